"""The site file's ``custody.visitors`` section: visitor badge pools and overstay grace."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.domain import CardId, CredentialFormat


class _Strict(BaseModel):
    """Unknown keys are an error, values are immutable (as everywhere in the site file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CardPool(_Strict):
    """A range of cards printed as visitor badges: same format and facility, numbers first-last."""

    format: CredentialFormat
    facility: int = Field(ge=0)
    first: int = Field(ge=0)
    last: int = Field(ge=0)

    @model_validator(mode="after")
    def _fits(self) -> Self:
        """Refuse a pool whose range is reversed or does not fit the format."""
        if self.first > self.last:
            raise ValueError("first must not be above last")
        CardId(self.format, self.facility, self.first)  # raises when it does not fit
        CardId(self.format, self.facility, self.last)
        return self

    def holds(self, card: CardId) -> bool:
        """True when ``card`` is one of this pool's badges."""
        return (
            card.format is self.format
            and card.facility == self.facility
            and self.first <= card.number <= self.last
        )


class VisitorsConfig(_Strict):
    """How visitors are badged and when a visit counts as overstayed."""

    # Badges that look like a visitor's (4-8-7(1) 部外者の識別化); empty: any card may be issued.
    card_pools: list[CardPool] = Field(default_factory=list)
    overstay_grace_s: float = Field(default=0.0, ge=0, le=86_400)  # after the window ends
    max_window_days: int = Field(default=7, ge=1, le=366)  # a visit lasts at most this

    def is_visitor_card(self, card: CardId) -> bool:
        """True when ``card`` may be issued as a visitor badge."""
        return not self.card_pools or any(p.holds(card) for p in self.card_pools)
