"""Projections: pure, idempotent folds of the event log into read views.

Each view is one module: a small store port (an ABC) and a `Projection` whose handlers
turn events into calls on that port. Projection code never reads the clock, the event
store or global state: times and ids come from the events. Backends implement the ports
(SQLite in `photoshare.infra.sqlite` for the embedded profile).
"""
