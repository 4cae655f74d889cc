"""Redis adapters: the live feed and login limits."""
