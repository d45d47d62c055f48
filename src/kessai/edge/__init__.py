"""The edge where kessai meets clients: rate limits, body size and connection deadlines.

- `settings.EdgeSettings`: every knob below, from `KESSAI_*` variables.
- `ratelimit`: limits per client address and per API key (the `limits` library, in
  process memory or in Redis shared by every process of one installation), the failed
  authentication budget and the negative cache of unknown keys.
- `middleware`: the ASGI middleware that applies the per-address limit, refuses a body past
  its size before it is read and bounds how long a body may take to arrive.
- `connections`: uvicorn's protocol with a deadline for request headers and a connection
  cap, and the process's file-descriptor limit.
"""
