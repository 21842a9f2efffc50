"""Outbound HTTP from an actor, through `wasi:http/outgoing-handler`.

The host lets a request out only where the tenant's `allowed_outbound_hosts` allow it,
within its limits and the turn's deadline. A failed turn does not undo a request it
already sent: for a call that must not happen twice, send an idempotency key the server
keeps (see the README).

The component must be built with `warren build --http` (the `warren-http-actor` world):

    from warren_actor import http

    quote = http.get("https://api.example.com/quote").json()
"""

import json
from typing import Any, List, Optional, Tuple, Union
from urllib.parse import urljoin, urlsplit

from componentize_py_types import Err

try:
    from wit_world.imports import http_types as _types
    from wit_world.imports import outgoing_handler as _handler
    from wit_world.imports import streams as _streams
except ImportError as e:  # built for plain warren-actor
    raise ImportError(
        "warren_actor.http needs wasi:http: build the component with `warren build --http` "
        "(componentize-py: -w warren-http-actor --import-interface-name "
        "wasi:http/types@0.2.0=http_types --import-interface-name "
        "warren:actor/types@0.1.0=types)"
    ) from e

__all__ = ["FetchError", "Response", "fetch", "get"]

# Redirects followed at most (each one is a new request, checked by the host again).
MAX_REDIRECTS = 5

# The most a blocking read or write moves at once.
_CHUNK = 64 << 10
_WRITE_CHUNK = 4096


class FetchError(Exception):
    """A request that got no (whole) response.

    `code` is the WASI HTTP error code: `HttpRequestDenied` (no allowed pattern names the
    host), `DestinationIpProhibited` (it resolved to an address the tenant may not reach),
    `ConnectionLimitReached`, `ConnectionTimeout`, `ConnectionReadTimeout`, ... or
    `BadUrl`, `BodyBrokeOff`, `TooManyRedirects`. `received` is how many bytes of the
    response body arrived before it broke off.
    """

    def __init__(self, code: str, detail: str = "", received: int = 0):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.received = received


class Response:
    """A response, its body read whole."""

    def __init__(self, status: int, headers: List[Tuple[str, bytes]], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> Optional[str]:
        """The first value of header `name`, as text."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value.decode("utf-8", "replace")
        return None

    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


def get(url: str, headers: Optional[dict] = None, timeout_ms: Optional[int] = None) -> Response:
    """`GET url`; see `fetch`."""
    return fetch(url, headers=headers, timeout_ms=timeout_ms)


def fetch(
    url: str,
    method: str = "GET",
    headers: Optional[dict] = None,
    body: Union[bytes, str, None] = None,
    timeout_ms: Optional[int] = None,
    follow_redirects: bool = True,
) -> Response:
    """Send a request and read its response whole.

    `body` may be bytes or text (sent as UTF-8). `timeout_ms` bounds the wait for the
    response's head (the tenant's limits and the turn's deadline still apply). Redirects
    are followed up to 5 hops: a `303`, or a `301`/`302` to a `POST`, goes on as a `GET`
    without body. Raises `FetchError`.
    """
    if isinstance(body, str):
        body = body.encode()
    pairs = [(k.lower(), str(v).encode()) for k, v in (headers or {}).items()]
    method = method.upper()
    for _ in range(MAX_REDIRECTS + 1):
        response = _send_once(method, url, pairs, body or b"", timeout_ms)
        location = response.header("location")
        if not (follow_redirects and response.status in (301, 302, 303, 307, 308) and location):
            return response
        url = urljoin(url, location)
        if response.status not in (307, 308) and method not in ("GET", "HEAD"):
            method, body = "GET", None
    raise FetchError("TooManyRedirects", f"more than {MAX_REDIRECTS} redirects")


def _code(e: Any) -> FetchError:
    # The variant's name, with its detail when it has one.
    name = type(e).__name__.split("_", 1)[-1]
    detail = getattr(e, "value", None)
    return FetchError(name, "" if detail is None else repr(detail))


def _method(name: str) -> Any:
    known = {
        "GET": _types.Method_Get,
        "HEAD": _types.Method_Head,
        "POST": _types.Method_Post,
        "PUT": _types.Method_Put,
        "DELETE": _types.Method_Delete,
        "PATCH": _types.Method_Patch,
        "OPTIONS": _types.Method_Options,
    }
    kind = known.get(name)
    return kind() if kind else _types.Method_Other(name)


def _send_once(method: str, url: str, headers: list, body: bytes, timeout_ms: Optional[int]) -> Response:
    parts = urlsplit(url)
    scheme = {"http": _types.Scheme_Http(), "https": _types.Scheme_Https()}.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise FetchError("BadUrl", f"not an http(s) URL: {url}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        fields = _types.Fields.from_list(headers)
    except Err as e:
        raise FetchError("BadHeader", repr(e.value)) from None
    request = _types.OutgoingRequest(fields)
    for setter, value in (
        (request.set_method, _method(method)),
        (request.set_scheme, scheme),
        (request.set_authority, parts.netloc),
        (request.set_path_with_query, path),
    ):
        try:
            setter(value)
        except Err:
            raise FetchError("BadUrl", f"cannot send {method} {url}") from None
    # A request without a body takes none: the host then sends it as complete at once.
    outgoing = request.body() if body else None
    options = None
    if timeout_ms is not None:
        options = _types.RequestOptions()
        try:
            options.set_first_byte_timeout(int(timeout_ms) * 1_000_000)
        except Err:
            raise FetchError("BadTimeout", f"{timeout_ms} ms") from None
    try:
        pending = _handler.handle(request, options)
    except Err as e:
        raise _code(e.value) from None
    if outgoing is not None:
        _write_body(outgoing, body)
    with pending:
        with pending.subscribe() as ready:
            ready.block()
        answer = pending.get()
    # option<result<result<incoming-response, error-code>>>: none before it is ready, an
    # outer error when taken twice, an inner one when the request failed.
    if answer is None or isinstance(answer, Err):
        raise FetchError("InternalError", "no response")
    if isinstance(answer.value, Err):
        raise _code(answer.value.value)
    with answer.value.value as response:
        status = response.status()
        with response.headers() as fields:
            entries = fields.entries()
        return Response(status, entries, _read_body(response.consume()))


def _write_body(outgoing: Any, body: bytes) -> None:
    with outgoing.write() as stream:
        for start in range(0, len(body), _WRITE_CHUNK):
            try:
                stream.blocking_write_and_flush(body[start : start + _WRITE_CHUNK])
            except Err as e:
                raise FetchError("BodyNotSent", _stream_error(e.value)) from None
    try:
        _types.OutgoingBody.finish(outgoing, None)
    except Err as e:
        raise _code(e.value) from None


def _read_body(incoming: Any) -> bytes:
    received = bytearray()
    with incoming.stream() as stream:
        while True:
            try:
                received += stream.blocking_read(_CHUNK)
            except Err as e:
                if isinstance(e.value, _streams.StreamError_Closed):
                    break
                raise FetchError("BodyBrokeOff", _stream_error(e.value), len(received)) from None
    with _types.IncomingBody.finish(incoming):
        pass
    return bytes(received)


def _stream_error(e: Any) -> str:
    if isinstance(e, _streams.StreamError_Closed):
        return "closed"
    with e.value as failure:
        code = _types.http_error_code(failure)
        return type(code).__name__.split("_", 1)[-1] if code is not None else failure.to_debug_string()
