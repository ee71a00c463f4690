"""The sim's HTTP/JSON control surface on loopback, a small stdlib asyncio server.

No framework: it starts in microseconds, has no dependency beyond the standard library and
serves one request per connection (``Connection: close``). Every error is JSON
``{"error": "..."}`` with 400 (bad input), 404 (unknown device or route), 405, 409 (the world
refused, e.g. a locked door) or 500; a bad request never takes the server down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

if TYPE_CHECKING:
    from sekisho_sim.site import SimSite

_MAX_HEAD = 16 * 1024
_MAX_BODY = 64 * 1024
_READ_TIMEOUT_S = 10.0
_log = logging.getLogger(__name__)

Handler = Callable[["SimSite", dict[str, Any], list[str]], Awaitable[Any]]


class HttpError(Exception):
    """A request ends in this status with this message."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        """Remember the status and message for the reply."""
        super().__init__(message)
        self.status = status
        self.message = message


class _Body(BaseModel):
    """Base of request bodies: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


_M = TypeVar("_M", bound=_Body)


class BadgeBody(_Body):
    """POST /badge."""

    reader: str
    card: str
    pin: str | None = None
    timed: bool = False  # answer submitted_ns too (benchmarks)


class KeysBody(_Body):
    """POST /keys."""

    reader: str
    keys: str


class DoorBody(_Body):
    """POST /door."""

    door: str
    action: str


class FaultBody(_Body):
    """POST /fault."""

    device: str
    action: str


class TamperBody(_Body):
    """POST /tamper."""

    reader: str
    active: bool = True


class InputBody(_Body):
    """POST /input."""

    module: str
    input: str
    active: bool = True


class SensorBody(_Body):
    """POST /sensor."""

    sensor: str
    value: bool | float | str


class NoiseBody(_Body):
    """POST /noise."""

    reader: str


class CameraBody(_Body):
    """POST /camera."""

    camera: str
    action: str
    people: int = 1
    direction: Literal["in", "out"] = "in"
    seconds: float = 4.0


def _parse(model: type[_M], body: dict[str, Any]) -> _M:
    """Validate a JSON body against its model; 400 naming the bad fields otherwise."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise HttpError(HTTPStatus.BAD_REQUEST, problems) from None


async def _list(site: SimSite, _body: dict[str, Any], _args: list[str]) -> Any:
    """GET /list."""
    return site.describe()


async def _door_get(site: SimSite, _body: dict[str, Any], args: list[str]) -> Any:
    """GET /doors/{id}."""
    return site.door_view(args[0])


async def _feedback(site: SimSite, _body: dict[str, Any], args: list[str]) -> Any:
    """GET /readers/{id}/feedback."""
    return {"reader": args[0], "feedback": site.feedback(args[0])}


async def _badge(site: SimSite, body: dict[str, Any], _args: list[str]) -> Any:
    """POST /badge."""
    req = _parse(BadgeBody, body)
    return await site.badge(req.reader, req.card, req.pin, timed=req.timed)


async def _keys(site: SimSite, body: dict[str, Any], _args: list[str]) -> Any:
    """POST /keys."""
    req = _parse(KeysBody, body)
    return await site.keys(req.reader, req.keys)


async def _door(site: SimSite, body: dict[str, Any], _args: list[str]) -> Any:
    """POST /door."""
    req = _parse(DoorBody, body)
    result = await site.door(req.door, req.action)
    return {
        "door": result.door_id,
        "action": result.action,
        "message": result.message,
        "view": site.door_view(result.door_id),
    }


async def _fault(site: SimSite, body: dict[str, Any], _args: list[str]) -> Any:
    """POST /fault."""
    req = _parse(FaultBody, body)
    return await site.fault(req.device, req.action)


async def _tamper(site: SimSite, body: dict[str, Any], _args: list[str]) -> Any:
    """POST /tamper."""
    req = _parse(TamperBody, body)
    return await site.tamper(req.reader, req.active)


async def _input(site: SimSite, body: dict[str, Any], _args: list[str]) -> Any:
    """POST /input."""
    req = _parse(InputBody, body)
    return await site.set_input(req.module, req.input, req.active)


async def _sensor(site: SimSite, body: dict[str, Any], _args: list[str]) -> Any:
    """POST /sensor."""
    req = _parse(SensorBody, body)
    return await site.sensor(req.sensor, req.value)


async def _noise(site: SimSite, body: dict[str, Any], _args: list[str]) -> Any:
    """POST /noise."""
    req = _parse(NoiseBody, body)
    return await site.noise(req.reader)


async def _camera(site: SimSite, body: dict[str, Any], _args: list[str]) -> Any:
    """POST /camera."""
    req = _parse(CameraBody, body)
    return await site.camera(
        req.camera,
        req.action,
        people=req.people,
        inward=req.direction == "in",
        seconds=req.seconds,
    )


async def _coil_writes(site: SimSite, _body: dict[str, Any], args: list[str]) -> Any:
    """GET /modules/{id}/coil-writes/{since_ns}."""
    if not args[1].isdigit():
        raise HttpError(HTTPStatus.BAD_REQUEST, "since_ns is a non-negative integer")
    return site.coil_writes(args[0], int(args[1]))


async def _camera_get(site: SimSite, _body: dict[str, Any], args: list[str]) -> Any:
    """GET /cameras/{id}."""
    return site.camera_view(args[0])


# (method, path pattern) -> handler; "*" in a pattern captures one path segment
ROUTES: dict[tuple[str, tuple[str, ...]], Handler] = {
    ("GET", ("list",)): _list,
    ("GET", ("doors", "*")): _door_get,
    ("GET", ("readers", "*", "feedback")): _feedback,
    ("POST", ("badge",)): _badge,
    ("POST", ("keys",)): _keys,
    ("POST", ("door",)): _door,
    ("POST", ("fault",)): _fault,
    ("POST", ("tamper",)): _tamper,
    ("POST", ("input",)): _input,
    ("POST", ("noise",)): _noise,
    ("POST", ("sensor",)): _sensor,
    ("POST", ("camera",)): _camera,
    ("GET", ("cameras", "*")): _camera_get,
    ("GET", ("modules", "*", "coil-writes", "*")): _coil_writes,
}


def _route(method: str, path: str) -> tuple[Handler, list[str]]:
    """Find the handler for a request and the path segments its pattern captured."""
    segments = [unquote(s) for s in urlsplit(path).path.split("/") if s]
    allowed: list[str] = []
    for (route_method, pattern), handler in ROUTES.items():
        if len(pattern) != len(segments):
            continue
        if all(p in ("*", s) for p, s in zip(pattern, segments, strict=True)):
            if route_method == method:
                return handler, [s for p, s in zip(pattern, segments, strict=True) if p == "*"]
            allowed.append(route_method)
    if allowed:
        raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes {', '.join(allowed)}")
    raise HttpError(HTTPStatus.NOT_FOUND, f"no route {method} {path}")


class ControlServer:
    """Serves the control routes of one SimSite on loopback."""

    def __init__(self, site: SimSite, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve ``site``; nothing listens until ``start``."""
        self._site = site
        self._host = "127.0.0.1" if host == "localhost" else host
        self._port = port
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43125``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        """Listen; port 0 picks a free port (then ``url`` names it)."""
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        handlers, self._handlers = self._handlers, set()
        for task in handlers:
            task.cancel()  # e.g. a badge still waiting for a PIN prompt
        await asyncio.gather(*handlers, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one request on one connection."""
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            status, payload = await self._answer(reader)
            body = json.dumps(payload).encode()
            head = (
                f"HTTP/1.1 {status.value} {status.phrase}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            writer.write(head + body)
            await writer.drain()
        except (ConnectionError, TimeoutError):
            pass  # the client went away; nothing to tell it
        finally:
            if task is not None:
                self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[HTTPStatus, Any]:
        """Read, route and run one request; every failure becomes a JSON error."""
        from sekisho_sim.site import ActionRefused, SiteError, UnknownDevice  # noqa: PLC0415 - site imports this module

        try:
            method, path, body = await asyncio.wait_for(_read_request(reader), _READ_TIMEOUT_S)
            handler, args = _route(method, path)
            return HTTPStatus.OK, await handler(self._site, body, args)
        except HttpError as exc:
            status, message = exc.status, exc.message
        except SiteError as exc:
            status, message = HTTPStatus.BAD_REQUEST, str(exc)
            if isinstance(exc, UnknownDevice):
                status = HTTPStatus.NOT_FOUND
            elif isinstance(exc, ActionRefused):
                status = HTTPStatus.CONFLICT
        except TimeoutError:
            status, message = HTTPStatus.REQUEST_TIMEOUT, "request not received in time"
        except Exception as exc:  # noqa: BLE001 - a sim bug must not take the control surface down
            _log.exception("control request failed")
            status, message = HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {exc!r}"
        return status, {"error": message}


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, Any]]:
    """Parse request line, headers and a JSON object body (empty body = ``{}``)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "headers too large") from None
    except asyncio.IncompleteReadError:
        raise HttpError(HTTPStatus.BAD_REQUEST, "incomplete request") from None
    if len(head) > _MAX_HEAD:
        raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "headers too large")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise HttpError(HTTPStatus.BAD_REQUEST, "not an HTTP request line")
    method, path = parts[0].upper(), parts[1]
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            if not value.strip().isdigit():
                raise HttpError(HTTPStatus.BAD_REQUEST, "bad Content-Length")
            length = int(value.strip())
    if length > _MAX_BODY:
        raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
    try:
        raw = await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError:
        raise HttpError(HTTPStatus.BAD_REQUEST, "body shorter than Content-Length") from None
    if not raw.strip():
        return method, path, {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HttpError(HTTPStatus.BAD_REQUEST, "body is not valid JSON") from None
    if not isinstance(body, dict):
        raise HttpError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
    return method, path, body
