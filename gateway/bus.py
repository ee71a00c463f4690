"""In-process typed event bus: publishers never know their subscribers, and a failing
subscriber never stops the others or the publisher."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")


class Bus:
    """Publish typed events to the handlers subscribed to their class (or a base class)."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Callable[[Any], None]]] = defaultdict(list)
        self._resolved: dict[type, tuple[Callable[[Any], None], ...]] = {}

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call ``handler`` for every published ``kind``; returns the unsubscribe function."""
        self._handlers[kind].append(handler)
        self._resolved.clear()

        def unsubscribe() -> None:
            if handler in self._handlers[kind]:
                self._handlers[kind].remove(handler)
                self._resolved.clear()

        return unsubscribe

    def publish(self, event: object) -> None:
        """Hand ``event`` to its subscribers, synchronously, in subscription order."""
        kind = type(event)
        handlers = self._resolved.get(kind)
        if handlers is None:
            handlers = tuple(h for base in kind.__mro__ for h in self._handlers.get(base, ()))
            self._resolved[kind] = handlers
        for handler in handlers:
            try:
                handler(event)
            except Exception:  # a subscriber's bug must not break the badge path
                log.exception("bus subscriber %r failed on %s", handler, kind.__name__)
