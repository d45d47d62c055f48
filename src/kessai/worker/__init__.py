"""Background work: webhook delivery and deadline sweeps (`kessai worker`, or in-process
inside `kessai serve`)."""
