"""HTTP errors the routes raise, in one place so that their wording stays uniform."""

from __future__ import annotations

from fastapi import HTTPException, status
from fastapi.exceptions import RequestValidationError


def unauthorized(detail: str = "Not authenticated") -> HTTPException:
    """401 with the Bearer challenge; the same answer whatever was wrong (no oracle)."""
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


def forbidden(detail: str = "Not permitted for this role") -> HTTPException:
    """403: authenticated, but not allowed."""
    return HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=detail)


def not_found(what: str) -> HTTPException:
    """404 naming the kind of object that was not found."""
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"No such {what}")


def conflict(detail: str) -> HTTPException:
    """409: the request is well-formed but clashes with the current state."""
    return HTTPException(status_code=status.HTTP_409_CONFLICT, detail=detail)


def invalid(loc: tuple[str | int, ...], message: str) -> RequestValidationError:
    """422 in the same shape as FastAPI's own validation errors."""
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": message}])
