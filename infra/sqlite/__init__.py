"""SQLite implementations of the projections' store and query ports (embedded profile).

Each module owns its view's tables (`SCHEMA`), a store bound to the runner's transaction,
and queries on a reader connection. `catalog.py` lists them for the composition root.
"""
