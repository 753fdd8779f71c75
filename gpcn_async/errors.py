"""Every error the SDK raises, in one tree.

Catch ``GPCNError`` for anything from this package, or a narrower class for one kind of failure:

```text
    GPCNError
    ├── ConfigurationError          bad client settings (missing key, http:// to a remote host)
    ├── ClientStateError            the client is closed, or used from another event loop
    │                               (also a RuntimeError)
    ├── InvalidRequestError         bad arguments, raised before any request (also a ValueError)
    ├── TransportError              connection failure or timeout, after retries
    │   └── OutcomeUnknownError     an action never re-sent may or may not have happened
    │                               (.vm_name for a create, .ids for the others)
    ├── ResponseDecodeError         the body is not JSON or not the expected shape (.status)
    ├── APIError                    the server answered with an error (.status .code .message
    │   │                           .details .request_id)
    │   ├── BadRequestError         400, 422
    │   ├── AuthenticationError     401
    │   ├── PermissionDeniedError   403
    │   ├── NotFoundError           404
    │   ├── ConflictError           409
    │   ├── RateLimitError          429 (.retry_after)
    │   ├── NotSupportedError       501
    │   └── ServerError             any other 5xx
    ├── JobError                    a job did not succeed (.job_id .status)
    │   ├── JobFailedError
    │   ├── JobCancelledError
    │   ├── JobNotFoundError        the server no longer shows the job
    │   └── JobTimeoutError         the wait's deadline passed; the job still runs
    ├── NoCapacityError             nothing could be ordered (.tried)
    └── BulkItemError               a bulk call reported this one id as failed (.id .message)
    BulkError                       a GPCNError and an ExceptionGroup of per-id errors
```

Which HTTP status maps to which class is decided in one table, in ``gpcn_async._wire``.
No message built here contains an API key or a private key: errors carry what the server said
and what the caller asked for, never credentials.

Every error survives ``pickle`` and ``copy.copy`` with its class, message and attributes, so it
can cross a process pool or a task queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:  # type-only: errors.py imports nothing from the package at run time
    from gpcn_async.models import JobStatus

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "BulkError",
    "BulkItemError",
    "ClientStateError",
    "ConfigurationError",
    "ConflictError",
    "GPCNError",
    "InvalidRequestError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobNotFoundError",
    "JobTimeoutError",
    "NoCapacityError",
    "NotFoundError",
    "NotSupportedError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseDecodeError",
    "ServerError",
    "TransportError",
]


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Make an error again from its args and attributes, without calling its ``__init__``."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class GPCNError(Exception):
    """Base class of every error raised by gpcn_async."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own reduce calls cls(*args), which loses (or fails on) our keyword-only
        # fields; this keeps class, args and every attribute for pickle and copy alike.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class ConfigurationError(GPCNError):
    """The client cannot be built as configured (no API key, clear-text URL to a remote host...)."""


class ClientStateError(GPCNError, RuntimeError):
    """The client cannot send: it has been closed, or is used from another event loop.

    A programming error, not a failure to retry: make a new ``Client`` (inside the event loop
    that will use it) instead.
    """


class InvalidRequestError(GPCNError, ValueError):
    """An argument is invalid; raised before any request is sent."""


class TransportError(GPCNError):
    """The request could not be completed: connection failure or timeout, after retries."""


class OutcomeUnknownError(TransportError):
    """An action that is never re-sent may or may not have reached the server.

    Creates, deletes, resets (and their bulk forms) and SSH-key uploads, generations and
    deletions each start work or destroy something, so they are not sent again once they may
    have arrived: a lost answer, a timeout or a 5xx leaves their outcome unknown. Look before
    acting again: for a create, check for a VM named ``vm_name`` (for example with
    ``gpcn.gpu.list(search=...)``), since re-sending blindly could make a second, billed VM;
    for the others, read the resources named in ``ids``.

    Attributes:
        vm_name: the name of the VM a create may have ordered, else None.
        ids: the ids of the VMs (or SSH keys) the action may have acted on, else empty.
    """

    def __init__(
        self, message: str, *, vm_name: str | None = None, ids: Iterable[str] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.vm_name = vm_name
        self.ids = tuple(ids)

    def __str__(self) -> str:
        if self.vm_name is not None:
            return (
                f"{self.message} (VM name: {self.vm_name!r}; check whether it exists before "
                "retrying)"
            )
        if self.ids:
            return f"{self.message} (ids: {', '.join(self.ids)}; check them before retrying)"
        return self.message


class ResponseDecodeError(GPCNError):
    """The server's answer could not be decoded: not JSON, or not the expected shape."""

    def __init__(self, message: str, *, status: int | None = None, snippet: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.snippet = snippet

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        if self.snippet:
            parts.append(f"body starts: {self.snippet!r}")
        return " ".join(parts)


class APIError(GPCNError):
    """The server answered with an error status.

    Attributes:
        status: the HTTP status code.
        code: the server's error code (``"RATE_LIMIT_EXCEEDED"``, ``"Validation Error"``...), or
            None when the body had none. Unknown codes are passed through untouched.
        message: the server's message, or a description of the status when it sent none.
        details: structured details (such as validation issues) when the server sent them.
        request_id: the ``X-Request-Id`` response header, when present; quote it to support.
        method: the HTTP method of the failed request.
        path: the path of the failed request, relative to the base URL.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        details: Any = None,
        request_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details
        self.request_id = request_id
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f" on {self.method} {self.path}" if self.method and self.path else ""
        code = f" {self.code}" if self.code else ""
        text = f"HTTP {self.status}{code}{where}: {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class BadRequestError(APIError):
    """The server rejected the request's content (400 or 422); ``details`` may list the issues."""


class AuthenticationError(APIError):
    """The API key is missing, invalid or expired (401)."""


class PermissionDeniedError(APIError):
    """The account may not do this, for example GPU features are not enabled (403)."""


class NotFoundError(APIError):
    """The resource, or the route itself, does not exist (404)."""


class ConflictError(APIError):
    """The request conflicts with the current state, e.g. the configuration was claimed (409)."""


class RateLimitError(APIError):
    """The rate limit was exceeded (429) and the wait the server asked for was too long to take.

    Attributes:
        retry_after: seconds the server asked to wait, when known.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("status", 429)
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    def __str__(self) -> str:
        text = super().__str__()
        if self.retry_after is not None:
            text += f" (retry after {self.retry_after:g} s)"
        return text


class NotSupportedError(APIError):
    """The provider cannot do this operation for this resource (501)."""


class ServerError(APIError):
    """The server or a gateway failed (5xx other than 501)."""


class JobError(GPCNError):
    """A job did not end in success.

    Attributes:
        job_id: the id of the job.
        status: the last status seen, or None if the job was never seen.
    """

    def __init__(self, message: str, *, job_id: str, status: JobStatus | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.job_id = job_id
        self.status = status

    def __str__(self) -> str:
        return f"job {self.job_id}: {self.message}"


class JobFailedError(JobError):
    """The job failed on the server; ``status.error`` holds the server's reason."""


class JobCancelledError(JobError):
    """The job was cancelled on the server."""


class JobNotFoundError(JobError):
    """The server does not show the job (it does not exist, or is not the caller's)."""


class JobTimeoutError(JobError):
    """The wait's deadline passed. The job still runs on the server and can be waited on again."""


class NoCapacityError(GPCNError):
    """No offer matching the request could be ordered.

    Attributes:
        tried: a description of each offer that was tried, in order (empty if none was available).
    """

    def __init__(self, message: str, *, tried: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.tried = tuple(tried)

    def __str__(self) -> str:
        if not self.tried:
            return self.message
        return f"{self.message} (tried: {'; '.join(self.tried)})"


class BulkItemError(GPCNError):
    """A bulk call succeeded as a whole but reported this one id as failed.

    Attributes:
        id: the id the server refused.
        message: the server's reason, such as ``"GPU VM not found"``.
    """

    def __init__(self, message: str, *, id: str) -> None:
        super().__init__(message)
        self.message = message
        self.id = id

    def __str__(self) -> str:
        return f"{self.id}: {self.message}"


class BulkError(GPCNError, ExceptionGroup[GPCNError]):
    """Some ids of a bulk call failed: an ``ExceptionGroup`` of one error per failed id.

    ``errors_by_id`` maps each failed id to its error; each sub-error's message names its id, so
    ``except*`` handlers see which resource failed.
    """

    errors_by_id: Mapping[str, GPCNError]

    def __reduce__(self) -> tuple[Any, ...]:
        # ExceptionGroup's args hold a list of errors; this class is built from the mapping.
        return (type(self), (self.message, self.errors_by_id), dict(self.__dict__))

    def __new__(cls, message: str, errors: Mapping[str, GPCNError]) -> Self:
        """Build the group from a mapping of id to error (ExceptionGroup is built in __new__)."""
        group = super().__new__(cls, message, list(errors.values()))
        group.errors_by_id = dict(errors)
        return group

    def __init__(self, message: str, errors: Mapping[str, GPCNError]) -> None:
        super().__init__(message, list(errors.values()))

    def derive(self, excs: Sequence[GPCNError]) -> BulkError:  # type: ignore[override]
        """Build the group ``split()`` and ``subgroup()`` return, keeping the id mapping."""
        kept = {key: err for key, err in self.errors_by_id.items() if err in excs}
        return BulkError(self.message, kept)

    def __str__(self) -> str:
        """Show the group's message and count, as ExceptionGroup does."""
        return ExceptionGroup.__str__(self)
