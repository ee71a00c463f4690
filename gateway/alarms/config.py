"""The site file's ``alarms:`` section: per-type priority, escalation and instructions.

Anything not set keeps the catalogue's default (``gateway.alarms.catalogue``).
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.alarms.catalogue import CATALOGUE, AlarmSpec

Text = Annotated[str, Field(min_length=1, max_length=2000)]


class _Strict(BaseModel):
    """Unknown keys are an error, values are immutable (as everywhere in the site file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class InstructionsConfig(_Strict):
    """What the operator should do, in Japanese and in English."""

    ja: Text
    en: Text


class AlarmTypeConfig(_Strict):
    """Site overrides for one alarm type."""

    priority: int | None = Field(default=None, ge=1, le=9)  # 1 is the most urgent
    escalation_s: float | None = Field(default=None, ge=0)  # 0: never escalate
    instructions: InstructionsConfig | None = None


class AlarmsConfig(_Strict):
    """Per-type overrides, keyed by catalogue type (e.g. ``door.forced``)."""

    types: dict[str, AlarmTypeConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_types(self) -> Self:
        """Every key names a catalogue type."""
        unknown = sorted(set(self.types) - set(CATALOGUE))
        if unknown:
            raise ValueError(
                f"alarms.types: unknown alarm type(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(CATALOGUE))})"
            )
        return self

    def priority(self, spec: AlarmSpec) -> int:
        """The priority of ``spec``'s type on this site."""
        cfg = self.types.get(spec.type)
        return cfg.priority if cfg is not None and cfg.priority is not None else spec.priority

    def escalation_s(self, spec: AlarmSpec) -> float | None:
        """Seconds before an unacknowledged alarm of this type escalates; None: never."""
        cfg = self.types.get(spec.type)
        value = spec.escalation_s
        if cfg is not None and cfg.escalation_s is not None:
            value = cfg.escalation_s
        return value if value is not None and value > 0 else None

    def instructions(self, spec: AlarmSpec) -> dict[str, str]:
        """Operator instructions for ``spec``'s type on this site."""
        cfg = self.types.get(spec.type)
        if cfg is not None and cfg.instructions is not None:
            return {"ja": cfg.instructions.ja, "en": cfg.instructions.en}
        return spec.instructions
