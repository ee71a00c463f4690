"""Keep bearer tokens out of access logs: EventSource sends them as ``?access_token=``."""

from __future__ import annotations

import logging
import re

_TOKEN_IN_QUERY = re.compile(r"(access_token=)[^&\s\"]*")
ACCESS_LOGGER = "uvicorn.access"


def redact(text: str) -> str:
    """``text`` with the value of every ``access_token=`` query parameter replaced."""
    return _TOKEN_IN_QUERY.sub(r"\1[redacted]", text)


class RedactAccessTokens(logging.Filter):
    """A filter that rewrites a log record's message and arguments without tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; never drops the record."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install(logger_name: str = ACCESS_LOGGER) -> None:
    """Add the filter to a logger once (uvicorn's access logger by default)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactAccessTokens) for f in logger.filters):
        logger.addFilter(RedactAccessTokens())
