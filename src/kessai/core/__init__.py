"""The pure core: kessai's rules, with no I/O.

Nothing in this package touches a database, the network, the clock or the environment, and
nothing imports SQLAlchemy, FastAPI or Starlette. Money and currencies, parameter rules,
the session and payment state machines and the test-card table live here, so they can be
unit-tested cheaply and read in one place. Callers pass in whatever the rules need (the
current time included).
"""
