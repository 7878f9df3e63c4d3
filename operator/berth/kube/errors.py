"""The API server's refusals, one exception class per HTTP status, chosen in one place
(``error_class``). ``berth.kube.client`` raises them and re-exports them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Self, cast


class ApiError(Exception):
    """A non-success answer from the API server, with its Status fields.

    Each HTTP status the operator acts on has a subclass (``NotFound``, ``Conflict``,
    ...), so that a caller says ``except NotFound:`` rather than testing numbers. The
    class is chosen by status in one place, ``error_class``: ``ApiError(404, ...)``
    itself makes a ``NotFound``, the way ``OSError(ENOENT, ...)`` makes a
    ``FileNotFoundError``, so no code that builds one (a test's fake among them) can
    build the wrong class. ``status`` 0 is an API server that could not be reached.
    """

    def __new__(cls, status: int, *args: Any, **kwargs: Any) -> Self:
        chosen = error_class(status) if cls is ApiError else cls
        return cast(Self, super().__new__(chosen))

    def __init__(self, status: int, reason: str, message: str, body: Any = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body

    def __reduce__(self) -> tuple[Any, ...]:
        return (ApiError, (self.status, self.reason, self.message, self.body))

    @property
    def not_found(self) -> bool:
        return isinstance(self, NotFound)

    @property
    def conflict(self) -> bool:
        return isinstance(self, Conflict)


class ClientError(ApiError):
    """4xx: the request as sent will not succeed as it is."""


class BadRequest(ClientError):
    """400: a body the server cannot decode, or a request it cannot take."""


class Unauthorized(ClientError):
    """401: our credentials were not accepted (after reading them again once)."""


class Forbidden(ClientError):
    """403: RBAC, or an admission webhook, said no."""


class NotFound(ClientError):
    """404: no such object, or no such kind served."""


class Conflict(ClientError):
    """409: the object changed since we read it, or already exists."""


class Gone(ClientError):
    """410: a resourceVersion too old to list or watch from."""


class Invalid(ClientError):
    """422 Unprocessable Entity: the object fails validation (reason ``Invalid``), or a
    JSON patch's test operation failed."""


class TooManyRequests(ClientError):
    """429: API Priority and Fairness turned the request away (after our retries)."""


class ServerError(ApiError):
    """5xx: the server, or something behind it (etcd, a webhook), failed."""


class Unreachable(ApiError):
    """No answer at all: the connection failed or timed out (after our retries)."""


_ERROR_BY_STATUS: dict[int, type[ApiError]] = {
    0: Unreachable,
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
}


def error_class(status: int) -> type[ApiError]:
    """The exception class for an HTTP status: the one place that decides."""
    if status in _ERROR_BY_STATUS:
        return _ERROR_BY_STATUS[status]
    if 400 <= status < 500:
        return ClientError
    if 500 <= status < 600:
        return ServerError
    return ApiError


def rbac_terms(method: str, path: str, params: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The RBAC verb and the resource a request is about, as a Role would name them:
    ``("patch", "events in namespace team-a")``. For messages that say which right is
    missing when the API server answers 403."""
    parts = [p for p in path.split("?", 1)[0].strip("/").split("/") if p]
    if parts[:1] == ["api"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"]:
        group, rest = (parts[1] if len(parts) > 1 else ""), parts[3:]
    else:
        return method.lower(), path
    namespace = None
    if len(rest) > 2 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    resource = rest[0] if rest else "(discovery)"
    named = len(rest) > 1
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    if method == "GET":
        verb = "get" if named else ("watch" if (params or {}).get("watch") else "list")
    elif method == "DELETE":
        verb = "delete" if named else "deletecollection"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())
    what = f"{resource}.{group}" if group else resource
    if namespace:
        what += f" in namespace {namespace}"
    return verb, what


def error_from_answer(status: int, text: str, what: str) -> ApiError:
    """The exception for an answer of the API server: its Status's reason and message,
    or (an answer that is no Status) the start of the text with what was asked."""
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "Status":
        return ApiError(status, doc.get("reason") or "Unknown", doc.get("message") or what, doc)
    return ApiError(status, "Unknown", f"{what}: {text[:300]}", text)
