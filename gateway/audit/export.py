"""Exports an auditor can verify offline: records, the signed checkpoint, and the proof.

An export covers the records matching its filters up to the newest signed checkpoint (size
N). Each record carries its fields, its salt and its commitment; after the records comes one
*multi-leaf inclusion proof*: the hashes of every complete subtree of the tree of size N that
holds none of the exported records and is needed, with their leaves, to recompute the root.
Anyone with the checkpoint key can then check, without the database, that each record is
unaltered (fields + salt give the commitment) and that all of them are in the signed log.
``docs/audit.md`` describes the JSON and CSV layouts; :func:`verify_export` is the verifier.
"""

from __future__ import annotations

import base64
import bisect
import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from json.encoder import encode_basestring  # C-accelerated, no ASCII escaping
from typing import Any, Final, Literal

from sqlalchemy import Engine, text

from gateway.audit.checkpoint import CheckpointError, open_checkpoint
from gateway.audit.entry import ENTRY_FIELDS, commitment, detail_text, ts_text
from gateway.audit.jcs import NotCanonicalizable, canonical_bytes
from gateway.audit.merkle import (
    HASH_SIZE,
    NodeSource,
    ProofError,
    is_complete,
    leaf_hash,
    node_hash,
    split_point,
)
from gateway.audit.note import NoteError, Verifier
from gateway.audit.stored import stored_detail, stored_ts_text
from gateway.audit.tree_store import DbTree, StoredCheckpoint

FORMAT: Final = "sekisho-audit-export/1"
ExportFormat = Literal["json", "csv"]
CSV_COLUMNS: Final = (
    "type", "seq", "ts", "kind", "door_id", "zone_id", "reader_id", "person_id", "person_kind",
    "credential", "direction", "outcome", "reason", "actor", "detail", "salt", "commitment",
    "purged_by",
)  # fmt: skip
NULL: Final = "\\N"  # a null cell in CSV; a text starting with a backslash gets one more


@dataclass(frozen=True, slots=True)
class ExportFilters:
    """Which records an export or audit query covers; ``since`` inclusive, ``until`` not."""

    since: datetime | None = None
    until: datetime | None = None
    person_id: str | None = None
    door_id: str | None = None
    zone_id: str | None = None
    kinds: tuple[str, ...] | None = None
    outcome: str | None = None

    def as_json(self) -> dict[str, object]:
        """The filters as they are written into the export and its audit record."""
        out: dict[str, object] = {}
        for name, value in asdict(self).items():
            if value is None:
                continue
            out[name] = ts_text(value) if isinstance(value, datetime) else value
        if "kinds" in out:
            out["kinds"] = list(self.kinds or ())
        return out

    def where(self) -> tuple[str, dict[str, object]]:
        """SQL conditions (after site and seq bounds) and their parameters."""
        parts: list[str] = []
        params: dict[str, object] = {}
        for name in ("person_id", "door_id", "zone_id", "outcome"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name} = :{name}")
                params[name] = value
        if self.since is not None:
            parts.append("ts >= :since")
            params["since"] = self.since
        if self.until is not None:
            parts.append("ts < :until")
            params["until"] = self.until
        if self.kinds is not None:
            names = [f"kind_{i}" for i in range(len(self.kinds))]
            parts.append(f"kind IN ({', '.join(':' + n for n in names)})" if names else "1 = 0")
            params.update(zip(names, self.kinds, strict=True))
        return "".join(f" AND {p}" for p in parts), params


_SELECT: Final = (
    "SELECT seq, ts, kind, door_id, zone_id, reader_id, person_id, person_kind, credential,"
    " direction, outcome, reason, actor, detail, salt, commitment, purged_by FROM record"
    " WHERE site_id = :site AND seq <= :upto"
)


def bind_params(engine: Engine, params: dict[str, object]) -> dict[str, object]:
    """Datetimes as each dialect stores them (SQLite: naive UTC text order; PostgreSQL: aware)."""
    if engine.dialect.name != "sqlite":
        return params
    out = dict(params)
    for key in ("since", "until"):
        value = out.get(key)
        if isinstance(value, datetime):
            out[key] = ts_text(value)[:-1].replace("T", " ")
    return out


def _b64(value: bytes | None) -> str:
    """Standard base64 of bytes, or the JSON null."""
    return "null" if value is None else f'"{base64.b64encode(bytes(value)).decode()}"'


def _record_json(site_text: str, row: Sequence[Any]) -> str:
    """One record as the canonical JSON of its fields plus salt, commitment and purged_by.

    Written out by hand for speed; the member order and escaping are those of
    :func:`gateway.audit.entry.entry_bytes`; :func:`verify_export` re-canonicalises them.
    """
    (seq, ts, kind, door, zone, reader, person, pkind, cred, direction, outcome, reason,
     actor, detail, salt, digest, purged_by) = row  # fmt: skip
    es = encode_basestring
    detail_c = "{}" if detail == "{}" else detail_text(stored_detail(detail))
    return (
        f'{{"actor":{"null" if actor is None else es(actor)},'
        f'"credential":{"null" if cred is None else es(cred)},"detail":{detail_c},'
        f'"direction":{"null" if direction is None else es(direction)},'
        f'"door_id":{"null" if door is None else es(door)},"kind":{es(kind)},'
        f'"outcome":{"null" if outcome is None else es(outcome)},'
        f'"person_id":{"null" if person is None else es(person)},'
        f'"person_kind":{"null" if pkind is None else es(pkind)},'
        f'"reader_id":{"null" if reader is None else es(reader)},'
        f'"reason":{"null" if reason is None else es(reason)},"seq":{int(seq)},'
        f'"site_id":{site_text},"ts":"{stored_ts_text(ts)}",'
        f'"zone_id":{"null" if zone is None else es(zone)},'
        f'"salt":{_b64(salt)},"commitment":{_b64(digest)},'
        f'"purged_by":{"null" if purged_by is None else int(purged_by)}}}'
    )


def proof_nodes(source: NodeSource, leaves: Sequence[int], size: int) -> list[tuple[int, int]]:
    """The subtrees ``(level, index)`` needed beside ``leaves`` (sorted) to compute the root."""
    out: list[tuple[int, int]] = []

    def walk(lo: int, hi: int, a: int, b: int) -> None:
        """Leaves[a:b] lie in [lo, hi)."""
        if b - a == hi - lo:
            return  # every leaf of the range is exported: nothing needed
        if a == b:
            if is_complete(lo, hi):
                level = (hi - lo).bit_length() - 1
                out.append((level, lo >> level))
                return
        elif hi - lo == 1:
            return
        k = split_point(hi - lo)
        mid = bisect.bisect_left(leaves, lo + k, a, b)
        walk(lo, lo + k, a, mid)
        walk(lo + k, hi, mid, b)

    if size:
        walk(0, size, 0, len(leaves))
    return out


def root_from_leaves(
    leaves: dict[int, bytes], nodes: dict[tuple[int, int], bytes], size: int
) -> bytes:
    """Recompute the root of a tree of ``size`` from some leaves and the proof's subtrees.

    A subtree given in the proof is only used where it holds none of the given leaves, so a
    proof cannot stand in for an exported record. ProofError when something is missing.
    """
    order = sorted(leaves)

    def compute(lo: int, hi: int) -> bytes:
        a = bisect.bisect_left(order, lo)
        holds = a < len(order) and order[a] < hi
        if not holds:
            level = (hi - lo).bit_length() - 1
            digest = nodes.get((level, lo >> level)) if is_complete(lo, hi) else None
            if digest is not None:
                return digest
        if hi - lo == 1:
            if holds:
                return leaves[lo]
            raise ProofError(f"the proof lacks leaf {lo}")
        k = split_point(hi - lo)
        return node_hash(compute(lo, lo + k), compute(lo + k, hi))

    if size <= 0:
        raise ProofError("an export needs a non-empty tree")
    return compute(0, size)


def _header(
    site_id: str, checkpoint: StoredCheckpoint, filters: ExportFilters, who: str, when: datetime
) -> dict[str, object]:
    """What an export says about itself before its records."""
    return {
        "format": FORMAT,
        "site_id": site_id,
        "exported_by": who,
        "exported_at": ts_text(when),
        "filters": filters.as_json(),
        "tree_size": checkpoint.size,
        "checkpoint": checkpoint.note,
        "key": checkpoint.key,
    }


def stream_export(
    engine: Engine,
    site_id: str,
    filters: ExportFilters,
    checkpoint: StoredCheckpoint,
    *,
    fmt: ExportFormat,
    exported_by: str,
    exported_at: datetime,
) -> Iterator[bytes]:
    """The export, in pieces, as it is read (records up to the checkpoint's size)."""
    header = _header(site_id, checkpoint, filters, exported_by, exported_at)
    where, params = filters.where()
    params = bind_params(engine, {**params, "site": site_id, "upto": checkpoint.size})
    query = text(_SELECT + where + " ORDER BY seq")
    seqs: list[int] = []
    site_text = encode_basestring(site_id)
    writer = _CsvOut() if fmt == "csv" else None
    if writer is None:
        head = json.dumps(header, ensure_ascii=False)
        yield (head[:-1] + ',"records":[').encode()
    else:
        yield writer.row(CSV_COLUMNS)
        yield b"".join(writer.row(["meta", key, _meta(value)]) for key, value in header.items())
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=2000).execute(query, params)
        first = True
        for part in result.partitions(2000):
            out = []
            for row in part:
                seqs.append(int(row[0]))
                if writer is None:
                    out.append(("" if first else ",") + _record_json(site_text, row))
                    first = False
                else:
                    out.append(writer.record(site_id, row))
            yield "".join(out).encode()
        result.close()
        tree = DbTree(conn, site_id, checkpoint.size)
        nodes = [
            (lvl, idx, tree.node(lvl, idx))
            for lvl, idx in proof_nodes(tree, [s - 1 for s in seqs], checkpoint.size)
        ]
    if writer is None:
        proof = ",".join(f'[{lvl},{idx},"{base64.b64encode(h).decode()}"]' for lvl, idx, h in nodes)
        yield f'],"proof":{{"nodes":[{proof}]}},"count":{len(seqs)}}}\n'.encode()
    else:
        yield b"".join(
            writer.row(["node", str(lvl), str(idx), base64.b64encode(h).decode()])
            for lvl, idx, h in nodes
        )
        yield writer.row(["meta", "count", str(len(seqs))])


def _meta(value: object) -> str:
    """A header value as a CSV cell (objects as canonical JSON)."""
    return value if isinstance(value, str) else canonical_bytes(value).decode()


def _cell(value: object) -> str:
    """A nullable text as a CSV cell: None as \\N, a leading backslash doubled."""
    if value is None:
        return NULL
    text_value = str(value)
    return "\\" + text_value if text_value.startswith("\\") else text_value


def _uncell(value: str) -> str | None:
    """The inverse of :func:`_cell`."""
    if value == NULL:
        return None
    return value[1:] if value.startswith("\\\\") else value


class _CsvOut:
    """CSV rows as bytes (RFC 4180 quoting, CRLF line ends)."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)

    def row(self, cells: Sequence[str]) -> bytes:
        """One row."""
        self._writer.writerow(cells)
        out = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return out.encode()

    def record(self, site_id: str, row: Sequence[Any]) -> str:
        """One record row."""
        (seq, ts, kind, door, zone, reader, person, pkind, cred, direction, outcome, reason,
         actor, detail, salt, digest, purged_by) = row  # fmt: skip
        cells = [
            "record", str(int(seq)), stored_ts_text(ts), kind, door, zone, reader, person,
            pkind, cred, direction, outcome, reason, actor, detail_text(stored_detail(detail)),
            None if salt is None else base64.b64encode(bytes(salt)).decode(),
            None if digest is None else base64.b64encode(bytes(digest)).decode(),
            None if purged_by is None else str(int(purged_by)),
        ]  # fmt: skip
        return self.row([_cell(c) for c in cells]).decode()


# --- offline verification ------------------------------------------------------------------


class ExportInvalid(ValueError):
    """The export cannot be read at all (not an export, truncated, unknown format)."""


@dataclass(frozen=True, slots=True)
class ExportReport:
    """What verifying an export found."""

    site_id: str
    tree_size: int
    records: int
    purged: int  # records whose content was purged: in the log, content not checkable
    problems: tuple[tuple[int | None, str], ...]  # (seq or None, what)
    key_pinned: bool  # False when the export's own key was trusted for want of another
    filters: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every record and the proof check out."""
        return not self.problems


@dataclass
class _Parsed:
    """An export read into memory."""

    header: dict[str, Any]
    records: list[dict[str, Any]]
    nodes: list[tuple[int, int, bytes]]
    count: int | None


def _parse_json(data: bytes) -> _Parsed:
    """The JSON layout."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExportInvalid(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ExportInvalid(f"not a {FORMAT} export")
    try:
        records = list(doc["records"])
        nodes = [
            (int(n[0]), int(n[1]), base64.b64decode(n[2], validate=True))
            for n in doc["proof"]["nodes"]
        ]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ExportInvalid(f"export is incomplete or malformed: {exc}") from None
    header = {k: v for k, v in doc.items() if k not in ("records", "proof", "count")}
    return _Parsed(header, records, nodes, doc.get("count"))


def _parse_csv(data: bytes) -> _Parsed:  # noqa: PLR0912  (one branch per row type)
    """The CSV layout."""
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ExportInvalid(f"not CSV: {exc}") from None
    if not rows or tuple(rows[0]) != CSV_COLUMNS:
        raise ExportInvalid(f"not a {FORMAT} CSV export (header row)")
    header: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    nodes: list[tuple[int, int, bytes]] = []
    count: int | None = None
    for row in rows[1:]:
        kind = row[0] if row else ""
        try:
            if kind == "meta":
                if row[1] == "count":
                    count = int(row[2])
                elif row[1] in ("filters",):
                    header[row[1]] = json.loads(row[2])
                elif row[1] == "tree_size":
                    header[row[1]] = int(row[2])
                else:
                    header[row[1]] = row[2]
            elif kind == "node":
                nodes.append((int(row[1]), int(row[2]), base64.b64decode(row[3], validate=True)))
            elif kind == "record":
                values = [_uncell(c) for c in row[1:]]
                rec: dict[str, Any] = dict(zip(CSV_COLUMNS[1:], values, strict=True))
                rec["seq"] = int(values[0] or 0)
                rec["detail"] = json.loads(rec["detail"] or "null")
                rec["purged_by"] = None if rec["purged_by"] is None else int(rec["purged_by"])
                rec["site_id"] = header.get("site_id")
                records.append(rec)
            else:
                raise ExportInvalid(f"unknown row type {kind!r}")
        except (IndexError, ValueError) as exc:
            raise ExportInvalid(f"malformed {kind or 'empty'} row: {exc}") from None
    if header.get("format") != FORMAT:
        raise ExportInvalid(f"not a {FORMAT} export")
    return _Parsed(header, records, nodes, count)


def verify_export(data: bytes, keys: Sequence[Verifier] = ()) -> ExportReport:
    """Check an export offline: checkpoint signature, every record, the multi-leaf proof.

    ``keys`` are the trusted checkpoint keys; without any, the key the export names is used
    and the report says the key was not pinned. ExportInvalid when it is not an export.
    """
    stripped = data.lstrip()
    parsed = _parse_json(data) if stripped.startswith(b"{") else _parse_csv(data)
    header = parsed.header
    problems: list[tuple[int | None, str]] = []
    site_id = str(header.get("site_id", ""))
    size = int(header.get("tree_size", 0))
    trusted = list(keys)
    pinned = bool(trusted)
    if not trusted:
        try:
            trusted = [Verifier.parse(str(header.get("key", "")))]
        except NoteError as exc:
            raise ExportInvalid(f"the export's key is malformed: {exc}") from None
    try:
        checkpoint = open_checkpoint(str(header.get("checkpoint", "")), trusted)
    except CheckpointError as exc:
        problems.append((None, f"checkpoint: {exc}"))
        checkpoint = None
    if checkpoint is not None and checkpoint.size != size:
        problems.append(
            (None, f"the export claims tree size {size}, its checkpoint {checkpoint.size}")
        )
    if parsed.count is not None and parsed.count != len(parsed.records):
        problems.append(
            (
                None,
                f"the export says {parsed.count} records but holds {len(parsed.records)}"
                " (truncated?)",
            )
        )
    leaves: dict[int, bytes] = {}
    purged = 0
    previous = 0
    for rec in parsed.records:
        seq, what, leaf, was_purged = _check_record(rec, site_id, size, previous)
        if what is not None:
            problems.append((seq, what))
        if leaf is not None and seq is not None:
            leaves[seq - 1] = leaf
            previous = seq
        purged += was_purged
    if checkpoint is not None and leaves and not any(s is not None for s, _ in problems):
        nodes = {(lvl, idx): h for lvl, idx, h in parsed.nodes if len(h) == HASH_SIZE}
        try:
            if root_from_leaves(leaves, nodes, size) != checkpoint.root:
                problems.append((None, "the records and the proof do not give the signed root"))
        except ProofError as exc:
            problems.append((None, f"proof: {exc}"))
    filters = header.get("filters")
    return ExportReport(
        site_id,
        size,
        len(parsed.records),
        purged,
        tuple(problems),
        pinned,
        filters if isinstance(filters, dict) else {},
    )


def _check_record(  # noqa: PLR0911  (one return per way a record can be bad)
    rec: dict[str, Any], site_id: str, size: int, previous: int
) -> tuple[int | None, str | None, bytes | None, int]:
    """(seq, problem or None, leaf hash or None, 1 if purged) for one exported record."""
    try:
        seq = int(rec["seq"])
        digest = base64.b64decode(str(rec["commitment"]), validate=True)
    except (KeyError, TypeError, ValueError):
        return None, "a record without a readable seq or commitment", None, 0
    if not previous < seq <= size:
        return seq, f"record {seq} is out of order or beyond the checkpoint", None, 0
    if len(digest) != HASH_SIZE:
        return seq, f"record {seq}: commitment is not 32 bytes", None, 0
    if rec.get("salt") is None:
        return seq, None, leaf_hash(digest), 1
    try:
        salt = base64.b64decode(str(rec["salt"]), validate=True)
        fields = {name: rec.get(name) for name in ENTRY_FIELDS}
        fields["site_id"] = site_id if rec.get("site_id") is None else rec["site_id"]
        entry = canonical_bytes(fields)
    except (ValueError, NotCanonicalizable) as exc:
        return seq, f"record {seq}: {exc}", None, 0
    if commitment(salt, entry) != digest:
        return seq, f"record {seq} was altered: its fields do not match its commitment", None, 0
    return seq, None, leaf_hash(digest), 0
