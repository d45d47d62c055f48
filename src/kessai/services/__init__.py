"""Services: one async function per operation, and the only layer that commits.

Transports call `run()` (writes, with optional idempotency) or `read()` with an operation;
the operation gets the open connection, applies the core's rules, talks to the processor
and the store, and returns a result the transport renders. Everything an operation writes,
its events included, commits together or not at all.
"""
