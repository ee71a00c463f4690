"""Cards and PINs of people; PINs go in only as argon2id hashes and never come out (4-8-7(3))."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, status
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from api.deps import CoreDep, IdPath, SessionDep, require
from api.errors import conflict, invalid, not_found
from api.roles import Permission
from api.routes.people import load_person, person_changed, stage_person_change
from api.schemas import (
    CredentialCreate,
    CredentialOut,
    CredentialPatch,
    DuressPinIn,
    PinIn,
    error_responses,
    utc_or_none,
)
from gateway.clock import utcnow
from gateway.config.site import PinPolicy
from gateway.domain import CardId, CredentialStatus
from gateway.hashing import hash_secret, verify_secret
from gateway.storage.models import Account, Credential, Person

router = APIRouter(tags=["credentials"])

Reader = Annotated[Account, require(Permission.PEOPLE_READ)]
Writer = Annotated[Account, require(Permission.PEOPLE_WRITE)]

# Lost and stolen cards are never used again: a new credential is issued instead.
_FINAL = frozenset({CredentialStatus.LOST, CredentialStatus.STOLEN})
_USABLE = frozenset({CredentialStatus.ENABLED, CredentialStatus.DISABLED})


def _pin_hash(pin: str | None, policy: PinPolicy, *, field: str = "pin") -> str | None:
    """Hash a PIN that follows the site's policy; 422 if it does not."""
    if pin is None:
        return None
    if not policy.min_length <= len(pin) <= policy.max_length:
        raise invalid(
            ("body", field),
            f"must be {policy.min_length} to {policy.max_length} digits (site pin policy)",
        )
    return hash_secret(pin)


def _load(session: Session, site_id: str, credential_id: str) -> Credential:
    """The site's credential with this id, or 404."""
    cred = session.get(Credential, credential_id)
    if cred is None or cred.site_id != site_id:
        raise not_found("credential")
    return cred


def _masked(cred: Credential) -> str:
    """The credential's card in the masked form records hold."""
    return CardId(cred.format, cred.facility, cred.number).masked


def _stage(
    session: Session,
    cred: Credential,
    *,
    actor: str,
    action: str,
    changes: dict[str, object],
) -> Person:
    """Stage the record of a change to a credential (card masked); returns its holder."""
    person = load_person(session, cred.site_id, cred.person_id)
    masked = _masked(cred)
    stage_person_change(
        session,
        person,
        actor=actor,
        action=action,
        changes={"card": masked, **changes},
        target=cred.id,
        credential=masked,
    )
    return person


@router.get(
    "/people/{person_id}/credentials",
    response_model=list[CredentialOut],
    responses=error_responses(401, 403, 404),
)
def list_credentials(person_id: IdPath, caller: Reader, session: SessionDep) -> list[CredentialOut]:
    """A person's credentials, oldest first."""
    load_person(session, caller.site_id, person_id)
    stmt = (
        select(Credential)
        .where(Credential.site_id == caller.site_id, Credential.person_id == person_id)
        .order_by(col(Credential.created_at), col(Credential.id))
    )
    return [CredentialOut.of(c) for c in session.exec(stmt)]


@router.post(
    "/people/{person_id}/credentials",
    response_model=CredentialOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 404, 409),
)
def post_credential(
    person_id: IdPath,
    body: CredentialCreate,
    caller: Writer,
    session: SessionDep,
    core: CoreDep,
) -> CredentialOut:
    """Issue a card (with an optional PIN) to a person; a card already issued is a 409."""
    person = load_person(session, caller.site_id, person_id)
    card = body.card_id()
    pin_hash = _pin_hash(body.pin, core.site().pin)
    taken = select(Credential.id).where(
        Credential.site_id == caller.site_id, Credential.card_key == card.key
    )
    if session.exec(taken).first() is not None:
        raise conflict("This card is already issued")
    cred = Credential(
        site_id=caller.site_id,
        person_id=person.id,
        format=card.format,
        facility=card.facility,
        number=card.number,
        card_key=card.key,
        pin_hash=pin_hash,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
    )
    session.add(cred)
    holder = _stage(
        session,
        cred,
        actor=caller.username,
        action="credential.create",
        changes={
            "pin": "set" if pin_hash else None,
            "status": cred.status,
            "valid_from": cred.valid_from,
            "valid_to": cred.valid_to,
        },
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise conflict("This card is already issued") from None  # lost a race
    person_changed(session, core, holder)
    return CredentialOut.of(cred)


@router.get(
    "/credentials/{credential_id}",
    response_model=CredentialOut,
    responses=error_responses(401, 403, 404),
)
def get_credential(credential_id: IdPath, caller: Reader, session: SessionDep) -> CredentialOut:
    """One credential."""
    return CredentialOut.of(_load(session, caller.site_id, credential_id))


@router.patch(
    "/credentials/{credential_id}",
    response_model=CredentialOut,
    responses=error_responses(401, 403, 404, 409),
)
def patch_credential(
    credential_id: IdPath,
    body: CredentialPatch,
    caller: Writer,
    session: SessionDep,
    core: CoreDep,
) -> CredentialOut:
    """Change status or validity; a lost or stolen card cannot be enabled again (409)."""
    cred = _load(session, caller.site_id, credential_id)
    updates = body.model_dump(exclude_unset=True)
    new_status = updates.get("status")
    if new_status in _USABLE and cred.status in _FINAL:
        raise conflict(f"A {cred.status.value} credential is not used again; issue a new one")
    valid_from = updates.get("valid_from", utc_or_none(cred.valid_from))
    valid_to = updates.get("valid_to", utc_or_none(cred.valid_to))
    if valid_from is not None and valid_to is not None and valid_from >= valid_to:
        raise invalid(("body",), "valid_from must be before valid_to")
    changes: dict[str, object] = {}
    for key, new in updates.items():
        old = getattr(cred, key)
        if (utc_or_none(old) if key.startswith("valid_") else old) != new:
            changes[key] = {"from": old, "to": new}
            setattr(cred, key, new)
    if changes:
        cred.updated_at = utcnow()
        session.add(cred)
        holder = _stage(
            session, cred, actor=caller.username, action="credential.update", changes=changes
        )
        session.commit()
        person_changed(session, core, holder)
    return CredentialOut.of(cred)


@router.put(
    "/credentials/{credential_id}/pin",
    response_model=CredentialOut,
    responses=error_responses(401, 403, 404),
)
def put_pin(
    credential_id: IdPath,
    body: PinIn,
    caller: Writer,
    session: SessionDep,
    core: CoreDep,
) -> CredentialOut:
    """Set or replace the PIN (digits, length per the site's policy); ``null`` clears it.

    The PIN must differ from the duress PIN; clearing the PIN clears the duress PIN too.
    """
    cred = _load(session, caller.site_id, credential_id)
    if (
        body.pin is not None
        and cred.duress_pin_hash is not None
        and verify_secret(cred.duress_pin_hash, body.pin)
    ):
        raise invalid(("body", "pin"), "must differ from the duress PIN")
    pin_hash = _pin_hash(body.pin, core.site().pin)
    had_pin = cred.pin_hash is not None
    cred.pin_hash = pin_hash
    changes: dict[str, object] = {}
    if pin_hash is None and cred.duress_pin_hash is not None:
        cred.duress_pin_hash = None  # entered instead of a PIN: meaningless without one
        changes["duress_pin"] = "cleared"
    cred.updated_at = utcnow()
    session.add(cred)
    action = "set" if pin_hash is not None else "cleared"
    if pin_hash is not None and had_pin:
        action = "replaced"
    holder = _stage(
        session,
        cred,
        actor=caller.username,
        action="credential.pin",
        changes={"pin": action, **changes},
    )
    session.commit()
    person_changed(session, core, holder)
    return CredentialOut.of(cred)


@router.put(
    "/credentials/{credential_id}/duress-pin",
    response_model=CredentialOut,
    responses=error_responses(401, 403, 404, 409),
)
def put_duress_pin(
    credential_id: IdPath,
    body: DuressPinIn,
    caller: Writer,
    session: SessionDep,
    core: CoreDep,
) -> CredentialOut:
    """Set or replace the duress PIN; ``null`` clears it. Never shown: only ``has_duress_pin``.

    Entered instead of the PIN, it opens the door as usual and raises a silent alarm. It
    follows the site's PIN policy and must differ from the PIN (422); a credential without a
    PIN cannot have one (409).
    """
    cred = _load(session, caller.site_id, credential_id)
    duress_hash = _pin_hash(body.duress_pin, core.site().pin, field="duress_pin")
    if body.duress_pin is not None:
        if cred.pin_hash is None:
            raise conflict("The credential has no PIN: set the PIN first")
        if verify_secret(cred.pin_hash, body.duress_pin):
            raise invalid(("body", "duress_pin"), "must differ from the PIN")
    had = cred.duress_pin_hash is not None
    cred.duress_pin_hash = duress_hash
    cred.updated_at = utcnow()
    session.add(cred)
    action = "set" if duress_hash is not None else "cleared"
    if duress_hash is not None and had:
        action = "replaced"
    holder = _stage(
        session,
        cred,
        actor=caller.username,
        action="credential.duress_pin",
        changes={"duress_pin": action},
    )
    session.commit()
    person_changed(session, core, holder)
    return CredentialOut.of(cred)
