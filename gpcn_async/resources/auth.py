"""The auth check: the cheapest authenticated call, and the only one that describes the key."""

from __future__ import annotations

from typing import TypeVar

from gpcn_async import _convert
from gpcn_async._transport import Transport
from gpcn_async.errors import APIError, AuthenticationError, NotFoundError
from gpcn_async.models import AuthStatus

__all__ = ["LIKELY_CAUSES", "AuthClient"]

PATH = "/auth/check"

LIKELY_CAUSES = (
    "the key was revoked, has expired or is disabled, was never bound to an entity, its owner "
    "left the entity, or the entity was deactivated"
)
"""Why the API refuses a key (the vendor's list: every credential failure is the same 401)."""

E = TypeVar("E", bound=APIError)


class AuthClient:
    """The auth check; reached as ``gpcn.auth_check()``."""

    def __init__(self, transport: Transport) -> None:
        """Internal: made by ``Client``."""
        self._transport = transport

    async def check(self) -> AuthStatus:
        """Ask the API whether it accepts the key, and what the key is and may do.

        Raises:
            AuthenticationError: the key was rejected (401); the message lists the likely
                causes.
            NotFoundError: the route is not there (404): the base URL is probably not the
                GPCN API's.
        """
        try:
            response = await self._transport.request("GET", PATH)
        except AuthenticationError as error:
            message = f"API key rejected ({error.message}); likely causes: {LIKELY_CAUSES}"
            raise _reworded(error, message) from error
        except NotFoundError as error:
            message = f"{error.message}: is the base URL the GPCN API's (https://api.gpcn.com/v1)?"
            raise _reworded(error, message) from error
        return response.decode(_convert.structure_auth_status)


def _reworded(error: E, message: str) -> E:
    """The same API error with another message: class, status, code and request id kept."""
    return type(error)(
        message,
        status=error.status,
        code=error.code,
        details=error.details,
        request_id=error.request_id,
        method=error.method,
        path=error.path,
    )
