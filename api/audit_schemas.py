"""Response bodies of the auditor's API (issue 4): checkpoints, proofs, analysis reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    """Base of the audit responses."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


class CheckpointOut(_Out):
    """The newest signed checkpoint (C2SP tlog-checkpoint note) and the key that signed it."""

    origin: str
    size: int = Field(description="records 1..size are covered")
    root: str = Field(description="RFC 9162 tree head, standard base64")
    signed_at: datetime | None
    note: str = Field(description="the signed note, as clients save it")
    key: str = Field(description="verifier key (pin it out of band)")


class InclusionOut(_Out):
    """RFC 9162 inclusion proof of record ``seq`` in the tree of ``size`` records."""

    seq: int
    size: int
    leaf_index: int = Field(description="seq - 1")
    commitment: str = Field(description="the leaf's entry, base64")
    leaf_hash: str
    proof: list[str] = Field(description="audit path, leaf to root, base64")
    root: str
    checkpoint: str | None = Field(description="the signed checkpoint at this size, if any")


class ConsistencyOut(_Out):
    """RFC 9162 consistency proof between two tree sizes."""

    first: int = Field(alias="from", serialization_alias="from")
    second: int = Field(alias="to", serialization_alias="to")
    proof: list[str]
    from_root: str
    to_root: str


class AnalysisOut(_Out):
    """One periodic analysis report (a record of kind audit.analysis)."""

    seq: int
    ts: datetime
    period: str
    start: str = Field(description="period start, RFC 3339 UTC")
    end: str = Field(description="period end (exclusive)")
    findings: dict[str, Any]


class AnalysisPage(_Out):
    """Reports newest first; pass ``next_before_seq`` as ``before_seq`` for more."""

    items: list[AnalysisOut]
    next_before_seq: int | None
