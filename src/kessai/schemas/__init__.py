"""The wire edge: request models (pydantic) and the JSON shapes kessai sends.

Shared by both transports (`api/` and `hosted/`) and by the services, which write the same
shapes into events and idempotent replays.
"""
