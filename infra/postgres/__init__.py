"""The cluster's event store and the relay's positions on PostgreSQL."""
