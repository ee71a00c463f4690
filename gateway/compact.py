"""Compact columns for millions of rows: ids as bytes, text in one heap, times as integers.

A Python object costs 50-100 bytes before it holds anything, so an index of 2 million
credentials built from objects needs gigabytes. These columns keep each value in a flat
``array``/``bytearray`` instead and make the object only when a row is read. They are filled by
appending, reordered once (``take``) when building is over, and never changed after.

Two things keep the memory of a big load close to what the columns hold. The spare room an
array grew while appending is left: it was never written, so it takes address space but no
memory (a big buffer is an ``mmap`` of its own), while copying a column to drop it held that
column twice. A zeroed array is made by ``zeros``, never from a temporary ``bytes``: freeing a
big ``bytes`` makes glibc raise its mmap threshold to its size, after which the columns still
growing below that size are moved inside the heap and leave holes behind them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

_HEX_ID = re.compile(r"^[0-9a-f]{32}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_TIME = -(1 << 63)  # the int64 that stands for None
_MICROSECOND = timedelta(microseconds=1)
_U32_MAX = 0xFFFF_FFFF
_MIX = 0x9E37_79B9_7F4A_7C15  # Fibonacci hashing: spreads card codes that differ in high bits
_MASK64 = (1 << 64) - 1
T = TypeVar("T")


def release_free_memory() -> None:
    """Give memory freed after a big load back to the OS (glibc keeps it otherwise; no-op
    elsewhere). Loading 2 M credentials leaves ~50 MB of such holes in the heap."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to do


def zeros(typecode: str, count: int) -> array[int]:
    """``count`` zeros, made in place: a temporary ``bytes`` as big would be freed at once."""
    return array(typecode, [0]) * count


def take(values: array[int], order: Sequence[int]) -> array[int]:
    """``values`` reordered: row ``i`` of the result is row ``order[i]`` of ``values``."""
    out = zeros(values.typecode, len(order))
    for i, r in enumerate(order):
        out[i] = values[r]
    return out


class IdColumn:
    """Row ids: 32 lowercase hex digits (``uuid4().hex``) as 16 raw bytes; any other as is."""

    __slots__ = ("_odd", "_raw")

    def __init__(self) -> None:
        """An empty column."""
        self._raw = bytearray()
        self._odd: dict[int, str] = {}  # row → an id that is not 32 hex digits (rare)

    def __len__(self) -> int:
        """Rows held."""
        return len(self._raw) // 16

    def append(self, value: str) -> None:
        """Add the id of the next row."""
        if _HEX_ID.match(value):
            self._raw += bytes.fromhex(value)
        else:
            self._odd[len(self)] = value
            self._raw += bytes(16)

    def get(self, row: int) -> str:
        """The id of ``row``."""
        odd = self._odd.get(row)
        if odd is not None:
            return odd
        return self._raw[row * 16 : row * 16 + 16].hex()

    def take(self, order: Sequence[int]) -> IdColumn:
        """The column reordered (see ``take``)."""
        raw = self._raw
        out = IdColumn()
        out._raw = bytearray(16 * len(order))
        for i, r in enumerate(order):
            out._raw[i * 16 : i * 16 + 16] = raw[r * 16 : r * 16 + 16]
        if self._odd:
            where = {r: i for i, r in enumerate(order) if r in self._odd}
            out._odd = {where[r]: v for r, v in self._odd.items() if r in where}
        return out

    def nbytes(self) -> int:
        """Bytes held by the column's buffers (the rare odd ids not counted)."""
        return len(self._raw)


class TextColumn:
    """Optional text: the UTF-8 bytes of every row in one heap, and where each row ends."""

    __slots__ = ("_data", "_ends", "_none")

    def __init__(self) -> None:
        """An empty column."""
        self._data = bytearray()
        self._ends = array("I")
        self._none: bytearray | None = None  # per row, 1 = None; made at the first None

    def __len__(self) -> int:
        """Rows held."""
        return len(self._ends)

    def append(self, value: str | None) -> None:
        """Add the text of the next row."""
        if value is None and self._none is None:
            self._none = bytearray(len(self._ends))
        if self._none is not None:
            self._none.append(value is None)
        if value is not None:
            self._data += value.encode()
        end = len(self._data)
        if end > _U32_MAX and self._ends.typecode == "I":
            self._ends = array("Q", self._ends)
        self._ends.append(end)

    def get(self, row: int) -> str | None:
        """The text of ``row`` (an empty string is not None)."""
        if self._none is not None and self._none[row]:
            return None
        start = self._ends[row - 1] if row else 0
        return self._data[start : self._ends[row]].decode()

    def take(self, order: Sequence[int]) -> TextColumn:
        """The column reordered (see ``take``)."""
        out = TextColumn()
        for r in order:
            out.append(self.get(r))
        return out

    def nbytes(self) -> int:
        """Bytes held by the column's buffers."""
        flags = 0 if self._none is None else len(self._none)
        return len(self._data) + self._ends.itemsize * len(self._ends) + flags


class SparseTextColumn:
    """Text that most rows lack (PIN hashes): the rows that have some, and their text."""

    __slots__ = ("_count", "_rows", "_text")

    def __init__(self) -> None:
        """An empty column."""
        self._count = 0
        self._rows = array("I")  # rows holding text, ascending
        self._text = TextColumn()

    def append(self, value: str | None) -> None:
        """Add the text of the next row."""
        if value is not None:
            self._rows.append(self._count)
            self._text.append(value)
        self._count += 1

    def get(self, row: int) -> str | None:
        """The text of ``row``."""
        at = bisect_left(self._rows, row)
        if at < len(self._rows) and self._rows[at] == row:
            return self._text.get(at)
        return None

    def take(self, order: Sequence[int]) -> SparseTextColumn:
        """The column reordered (see ``take``)."""
        out = SparseTextColumn()
        if not self._rows:
            out._count = len(order)
            return out
        for r in order:
            out.append(self.get(r))
        return out

    def nbytes(self) -> int:
        """Bytes held by the column's buffers."""
        return 4 * len(self._rows) + self._text.nbytes()


class TimeColumn:
    """Optional UTC instants as int64 microseconds; nothing is allocated while every one is None."""

    __slots__ = ("_rows", "_values")

    def __init__(self) -> None:
        """An empty column."""
        self._rows = 0
        self._values: array[int] | None = None

    def append(self, value: datetime | None) -> None:
        """Add the instant of the next row (timezone-aware, or None)."""
        if value is not None and self._values is None:
            self._values = array("q", [_NO_TIME]) * self._rows
        if self._values is not None:
            self._values.append(_NO_TIME if value is None else (value - _EPOCH) // _MICROSECOND)
        self._rows += 1

    def get(self, row: int) -> datetime | None:
        """The instant of ``row`` (UTC), or None."""
        if self._values is None:
            return None
        micros = self._values[row]
        # positional (days, seconds, microseconds): twice as fast as the keyword form
        return None if micros == _NO_TIME else _EPOCH + timedelta(0, 0, micros)

    def take(self, order: Sequence[int]) -> TimeColumn:
        """The column reordered (see ``take``)."""
        out = TimeColumn()
        out._rows = len(order)
        if self._values is not None:
            out._values = take(self._values, order)
        return out

    def nbytes(self) -> int:
        """Bytes held by the column's buffer."""
        return 0 if self._values is None else self._values.itemsize * len(self._values)


class Interned(Generic[T]):
    """Values that repeat (zones, purposes, courses) stored once; rows keep a small handle."""

    __slots__ = ("_handle", "values")

    def __init__(self) -> None:
        """No values yet."""
        self.values: list[T] = []
        self._handle: dict[T, int] = {}

    def handle(self, value: T) -> int:
        """The handle of ``value``, adding it the first time it is seen."""
        h = self._handle.get(value)
        if h is None:
            h = self._handle[value] = len(self.values)
            self.values.append(value)
        return h


class RowTable:
    """An open-addressing hash table from an integer hash to a row (linear probing).

    It keeps only ``row + 1`` per slot (0 = empty); the caller compares its own column at a
    candidate row to tell a match from a neighbour. Sized once, for ``capacity`` rows, at most
    half full.
    """

    __slots__ = ("_mask", "_shift", "_slots")

    def __init__(self, capacity: int) -> None:
        """Room for ``capacity`` rows."""
        bits = max(3, (2 * max(capacity, 1) - 1).bit_length())
        self._slots = zeros("I", 1 << bits)
        self._mask = (1 << bits) - 1
        self._shift = 64 - bits

    def slot(self, h: int) -> int:
        """The first slot to probe for hash ``h``."""
        return ((h * _MIX) & _MASK64) >> self._shift

    def add(self, h: int, row: int) -> None:
        """Remember ``row`` under hash ``h`` (the caller never adds a row twice)."""
        slots, mask = self._slots, self._mask
        i = self.slot(h)
        while slots[i]:
            i = (i + 1) & mask
        slots[i] = row + 1

    def find(self, key: int, keys: array[int]) -> int:
        """The row whose ``keys[row]`` is ``key`` (when the hash is the key itself), or -1."""
        slots, mask = self._slots, self._mask
        i = self.slot(key)
        while stored := slots[i]:
            if keys[stored - 1] == key:
                return stored - 1
            i = (i + 1) & mask
        return -1

    def candidates(self, h: int) -> list[int]:
        """Rows stored under hashes that share ``h``'s probe run, nearest first."""
        slots, mask = self._slots, self._mask
        out = []
        i = self.slot(h)
        while stored := slots[i]:
            out.append(stored - 1)
            i = (i + 1) & mask
        return out

    def nbytes(self) -> int:
        """Bytes held by the table."""
        return self._slots.itemsize * len(self._slots)
