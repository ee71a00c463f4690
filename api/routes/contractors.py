"""Contractors (4-8-9): contract, confidentiality clause, on-site inspections, findings.

A contractor is created as a person of kind ``contractor`` (``/people``); here a manager
records the contract (company, end, confidentiality clause) and each on-site inspection. Access
lapses with the contract: the decision denies ``ContractExpired`` after its end. Everyone but
the admin reads; findings (inspection overdue, no clause, contract ended) are listed here and
recorded once each by the periodic check.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Self

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.custody import CustodyDep, actor_of, call
from api.deps import require
from api.roles import Permission
from api.schemas import In, Line200, Note, UtcTime, error_responses
from gateway.contractors import ContractorView, ContractTerms, FindingKind
from gateway.storage.models import Account

router = APIRouter(prefix="/contractors", tags=["contractors"])

PersonPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="a person id")]
Reader = Annotated[Account, require(Permission.CONTRACTORS_READ)]
Writer = Annotated[Account, require(Permission.CONTRACTORS_WRITE)]


class FindingOut(BaseModel):
    """One finding about a contractor."""

    model_config = ConfigDict(from_attributes=True)

    person_id: str
    kind: FindingKind
    key: str
    detail: str


class ContractorOut(BaseModel):
    """A contractor with the contract on file and today's findings."""

    model_config = ConfigDict(from_attributes=True)

    person_id: str
    name: str
    enabled: bool
    company: str | None
    contract_ref: str | None
    contract_end: dt.datetime | None
    confidentiality_on_file: bool
    confidentiality_date: dt.date | None
    last_inspection_date: dt.date | None
    last_inspection_note: str | None
    inspection_due: dt.date | None
    updated_by: str | None
    updated_at: dt.datetime | None
    findings: list[FindingOut]

    @classmethod
    def of(cls, v: ContractorView) -> ContractorOut:
        """The output form of a contractor view."""
        return cls.model_validate(v)


class ContractIn(In):
    """The contract on file: company, end, confidentiality clause (yes/no and date)."""

    company: Line200 = Field(min_length=1)
    contract_end: UtcTime
    confidentiality_on_file: bool
    confidentiality_date: dt.date | None = None
    contract_ref: Annotated[str, Field(max_length=100)] | None = None
    last_inspection_date: dt.date | None = None

    @model_validator(mode="after")
    def _clause_date(self) -> Self:
        """A clause on file has its date."""
        if self.confidentiality_on_file and self.confidentiality_date is None:
            raise ValueError("confidentiality_date is needed when the clause is on file")
        return self


class InspectionIn(In):
    """An on-site inspection of the contractor's handling of personal data (4-8-9(3))."""

    date: dt.date
    note: Note | None = None


@router.get("", response_model=list[ContractorOut], responses=error_responses(401, 403))
def list_contractors(caller: Reader, custody: CustodyDep) -> list[ContractorOut]:
    """Every contractor, by name, with today's findings."""
    return [ContractorOut.of(v) for v in call(custody.contractors.all)]


@router.get("/findings", response_model=list[FindingOut], responses=error_responses(401, 403))
def list_findings(caller: Reader, custody: CustodyDep) -> list[FindingOut]:
    """Today's findings over every contractor."""
    views = call(custody.contractors.all)
    return [FindingOut.model_validate(f) for v in views for f in v.findings]


@router.get("/{person_id}", response_model=ContractorOut, responses=error_responses(401, 403, 404))
def get_contractor(person_id: PersonPath, caller: Reader, custody: CustodyDep) -> ContractorOut:
    """One contractor."""
    return ContractorOut.of(call(custody.contractors.get, person_id))


@router.put("/{person_id}", response_model=ContractorOut, responses=error_responses(401, 403, 404))
def put_contract(
    person_id: PersonPath, body: ContractIn, caller: Writer, custody: CustodyDep
) -> ContractorOut:
    """Record the contract; the decision follows a new end at once (``contractor.updated``)."""
    terms = ContractTerms(
        company=body.company,
        contract_end=body.contract_end,
        confidentiality_on_file=body.confidentiality_on_file,
        confidentiality_date=body.confidentiality_date,
        contract_ref=body.contract_ref,
        last_inspection_date=body.last_inspection_date,
    )
    return ContractorOut.of(call(custody.contractors.set_terms, actor_of(caller), person_id, terms))


@router.post(
    "/{person_id}/inspections",
    response_model=ContractorOut,
    responses=error_responses(401, 403, 404),
)
def post_inspection(
    person_id: PersonPath, body: InspectionIn, caller: Writer, custody: CustodyDep
) -> ContractorOut:
    """Record an on-site inspection (``contractor.inspected``)."""
    return ContractorOut.of(
        call(
            custody.contractors.record_inspection, actor_of(caller), person_id, body.date, body.note
        )
    )
