"""What the visit, contractor and media routes share (issue 5).

The services (``gateway.custody_stack.CustodyStack``) run on the core's event loop; routes run
in worker threads and call them with ``call``, which maps each typed refusal to its status:
``NotFound`` 404, ``NotAllowed`` 403, ``Refused`` 409, ``Invalid`` 422.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Annotated, Any, TypeVar

from anyio import from_thread
from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import Response

from api.errors import conflict, forbidden, invalid, not_found
from gateway.custody import Actor, Invalid, NotAllowed, NotFound, Refused
from gateway.custody_stack import CustodyStack
from gateway.storage.models import Account

T = TypeVar("T")


def get_custody(request: Request) -> CustodyStack:
    """The running custody services; 404 when this app was built without them."""
    stack: CustodyStack | None = getattr(request.app.state, "custody", None)
    if stack is None:
        raise not_found("custody service (not configured)")
    return stack


CustodyDep = Annotated[CustodyStack, Depends(get_custody)]


def actor_of(account: Account) -> Actor:
    """The caller as the services see it: username, role, own person, managed zones."""
    return Actor(account.username, account.role, account.person_id, tuple(account.zones))


def call(fn: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any) -> T:
    """Run a service coroutine on the core's loop; refusals become HTTP errors."""
    try:
        return from_thread.run(functools.partial(fn, *args, **kwargs))
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except NotAllowed as exc:
        raise forbidden(str(exc)) from None
    except Refused as exc:
        raise conflict(str(exc)) from None
    except Invalid as exc:
        raise invalid(("body", exc.field), exc.message) from None


# The CSV alternative of a JSON route's 200 answer, for its OpenAPI entry (``?format=csv``).
CSV_200: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with `format=csv`"}
}


def csv_response(
    header: Sequence[str], rows: Iterable[Sequence[object]], filename: str
) -> Response:
    """A CSV download (UTF-8 with BOM, so that spreadsheet programs read Japanese right)."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out)
    w.writerow(header)
    for row in rows:
        w.writerow(["" if v is None else _cell(v) for v in row])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _cell(value: object) -> str:
    """One CSV cell; text a spreadsheet would run as a formula is quoted with an apostrophe."""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
