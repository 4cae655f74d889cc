"""The write API (FastAPI): validates and authenticates requests, turns them into commands,
and answers with the position of the events they caused (X-Event-Position)."""

from photoshare.writeapi.app import DOMAIN_ERROR_STATUS, include_write_api
from photoshare.writeapi.services import WriteServices

__all__ = ["DOMAIN_ERROR_STATUS", "WriteServices", "include_write_api"]
