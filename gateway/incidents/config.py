"""The site file's ``incidents:`` section: who is told when, and the legal reporting periods.

When an incident involves held personal information, the body reports to the Personal
Information Protection Commission and notifies the persons (4-8-11(6)(7)): a preliminary report
(速報) promptly and a final report (確報) later. The periods are the site's to set; the defaults
follow the Commission's rules (about 3-5 days; 30 days).
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
DAY_S = 86_400.0


class _Strict(BaseModel):
    """Unknown keys are an error, values are immutable (as everywhere in the site file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LegalStepConfig(_Strict):
    """One legal reporting step and how long after the personal data was known it is due."""

    id: Ident
    ja: Annotated[str, Field(min_length=1, max_length=200)]
    en: Annotated[str, Field(min_length=1, max_length=200)]
    due_after_s: float = Field(gt=0)


DEFAULT_LEGAL_STEPS = (
    LegalStepConfig(
        id="preliminary_report",
        ja="個人情報保護委員会への速報",
        en="Preliminary report to the Commission",
        due_after_s=3 * DAY_S,
    ),
    LegalStepConfig(
        id="final_report",
        ja="個人情報保護委員会への確報",
        en="Final report to the Commission",
        due_after_s=30 * DAY_S,
    ),
)


class IncidentsConfig(_Strict):
    """How incidents are reported up and which legal steps are tracked."""

    notify_chief_after_s: float = Field(default=0.0, ge=0)  # the zone's manager first, then
    legal_steps: list[LegalStepConfig] = Field(default_factory=lambda: list(DEFAULT_LEGAL_STEPS))

    @model_validator(mode="after")
    def _unique_steps(self) -> Self:
        """Step ids are unique."""
        ids = [s.id for s in self.legal_steps]
        if len(ids) != len(set(ids)):
            raise ValueError("incidents.legal_steps: a step id appears twice")
        return self

    def step(self, step_id: str) -> LegalStepConfig:
        """The step with this id; KeyError when there is none."""
        for s in self.legal_steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)
