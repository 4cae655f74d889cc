"""The read API (FastAPI): serves queries from view stores only, never the event store.

This issue's slice serves `/media`; the views and their routes join with the read side.
"""

from readapi.app import include_read_api

__all__ = ["include_read_api"]
