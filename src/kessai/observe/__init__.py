"""Operations: Prometheus metrics, structured logs with request ids, the audit trail of money
moves, and readiness.

`context` holds what is known about the request being served (its id, its merchant);
`middleware` sets it and measures every request; `metrics` defines every kessai metric and
renders `/metrics`; `logs` configures the standard library's logging (text or JSON);
`audit` writes one line per money move once it is committed; `ready` checks the store.
"""
