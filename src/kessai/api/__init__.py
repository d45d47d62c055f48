"""The KOMOJU-compatible HTTP API under /api/v1: authenticate, parse, run, serialize."""
