from kessai.cli import main

raise SystemExit(main())
