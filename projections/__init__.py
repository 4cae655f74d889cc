"""Projections: pure, idempotent folds of the event log into views (built in the read-side issue)."""
