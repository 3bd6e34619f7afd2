"""Pairing a phone from the admin, logging a session out, and sessions the gateway reports first.

A pairing creates a `connecting` session with a generated gateway name and starts it on the
gateway with this deployment's webhook and `metadata` naming the organization and the session.
When the phone scans, the gateway's status report connects the session, and the automatic path
moves the references of earlier sessions of the same phone, as on any reconnect.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, router, transaction
from django.db.models.deletion import ProtectedError, RestrictedError
from django.utils.text import slugify
from django.utils.translation import gettext as _

from sessions_app.gateway import BaseGatewayBackend, GatewayError, get_gateway
from sessions_app.gateway.base import SESSION_NAME_KEY
from sessions_app.models import Organization, SessionMigration, WhatsAppSession
from sessions_app.phones import normalize_phone_number
from sessions_app.services.status import apply_status_report

logger = logging.getLogger(__name__)

_SLUG_LENGTH = 40
# Hex digits of the session id after the slug: 8 keep names short; more only on a clash.
_ID_LENGTHS = (8, 12, 32)


class SessionLifecycleError(Exception):
    """A refused or failed pairing or log-out; `str(exc)` is a one-line reason for staff."""


def gateway_session_name(
    *, organization: Organization, session_id: uuid.UUID, session_key: str = SESSION_NAME_KEY
) -> str:
    """`<organization slug>-<short id>`, e.g. `instituto-aurora-1f2e3d4c`.

    Readable on the gateway's dashboard, unique (the id part grows on the rare clash), and stable:
    it is stored in the session once and never derived again, so renaming the organization
    leaves running sessions alone.
    """
    slug = slugify(organization.name)[:_SLUG_LENGTH].strip("-") or "organization"
    for length in _ID_LENGTHS:
        name = f"{slug}-{session_id.hex[:length]}"
        if not WhatsAppSession.objects.filter(**{f"session_data__{session_key}": name}).exists():
            return name
    return name


@contextmanager
def _gateway_for(gateway: BaseGatewayBackend | None) -> Iterator[BaseGatewayBackend]:
    """`gateway`, or the configured one, closed again after use."""
    if gateway is not None:
        yield gateway
        return
    gateway = get_gateway()
    try:
        yield gateway
    finally:
        gateway.close()


def pairing_start(
    *,
    organization: Organization,
    predecessor: WhatsAppSession | None = None,
    gateway: BaseGatewayBackend | None = None,
) -> WhatsAppSession:
    """Create a `connecting` session of `organization` and start it on the gateway.

    `predecessor` is the disconnected session whose phone is paired again (None for a new
    phone). Refused with SessionLifecycleError when the predecessor cannot be paired again or the
    gateway does not start the session; then no session row is left behind.
    """
    refusal = predecessor and pair_again_refusal(predecessor, organization=organization)
    if refusal:
        raise SessionLifecycleError(refusal)
    with _gateway_for(gateway) as gateway:
        if refusal := gateway.pairing_refusal():
            raise SessionLifecycleError(refusal)
        session_id = uuid.uuid4()
        name = gateway_session_name(
            organization=organization, session_id=session_id, session_key=gateway.session_key
        )
        # The row exists before the gateway hears of it, so the gateway's first report finds it.
        session = WhatsAppSession.objects.create(
            id=session_id,
            organization=organization,
            status=WhatsAppSession.Status.CONNECTING,
            session_data={gateway.session_key: name},
        )
        try:
            gateway.start_session(
                name,
                webhook_url=gateway.webhook_url(),
                webhook_secret=gateway.webhook_secret(),
                metadata={"organization": str(organization.pk), "session": str(session.pk)},
            )
        except GatewayError as exc:
            _discard(session)
            raise SessionLifecycleError(
                _("The gateway did not start the session: %(error)s") % {"error": exc}
            ) from exc
        logger.info("Pairing session %s (%s) of %s started", session.pk, name, organization.pk)
        return session


def pair_again_refusal(predecessor: WhatsAppSession, *, organization: Organization) -> str:
    """Why the phone of `predecessor` cannot be paired again as a session of `organization`,
    in one line; "" when it can."""
    if predecessor.organization_id != organization.pk:
        return _("Session %(id)s belongs to another organization than %(organization)s.") % {
            "id": predecessor.pk,
            "organization": organization,
        }
    if predecessor.superseded_by_id is not None:
        return _(
            "Session %(id)s was already superseded by %(successor)s; pair that one again instead."
        ) % {"id": predecessor.pk, "successor": predecessor.superseded_by_id}
    if predecessor.status != WhatsAppSession.Status.DISCONNECTED:
        return _(
            "Session %(id)s is %(status)s; only a disconnected session's phone is paired again."
        ) % {"id": predecessor.pk, "status": predecessor.status_in_sentence}
    return ""


def _discard(session: WhatsAppSession) -> None:
    """Delete a session the gateway never started; it holds nothing yet."""
    try:
        WhatsAppSession.objects.filter(pk=session.pk).delete()
    except (ProtectedError, RestrictedError):
        # Something was attached to it in the meantime: keep it, staff can log it out or delete.
        logger.warning("Session %s could not be discarded after a failed start", session.pk)


def pairing_qr(*, session: WhatsAppSession, gateway: BaseGatewayBackend | None = None) -> bytes:
    """The QR code to scan for `session`, as PNG bytes."""
    with _gateway_for(gateway) as gateway:
        name = _require_pairing(session, gateway)
        try:
            return gateway.get_qr(name)
        except GatewayError as exc:
            raise SessionLifecycleError(
                _("No QR code from the gateway: %(error)s") % {"error": exc}
            ) from exc


def pairing_request_code(
    *, session: WhatsAppSession, phone_number: str, gateway: BaseGatewayBackend | None = None
) -> str:
    """The code that links `phone_number` to `session` in WhatsApp's "link with phone number".
    Refused, asking nothing of the gateway, when it has no such code."""
    with _gateway_for(gateway) as gateway:
        if not gateway.can_request_pairing_code:
            raise SessionLifecycleError(
                _("This gateway links phones by QR code only: scan the QR code instead.")
            )
        name = _require_pairing(session, gateway)
        phone = _read_phone(phone_number)
        try:
            return gateway.request_pairing_code(name, phone)
        except GatewayError as exc:
            raise SessionLifecycleError(
                _("No pairing code from the gateway: %(error)s") % {"error": exc}
            ) from exc


def pairing_simulate_scan(
    *, session: WhatsAppSession, phone_number: str, gateway: BaseGatewayBackend | None = None
) -> WhatsAppSession:
    """On a development backend, pair `phone_number` with `session` without a phone."""
    with _gateway_for(gateway) as gateway:
        if not gateway.can_simulate_scan:
            raise SessionLifecycleError(_("This gateway pairs real phones only: scan the QR code."))
        name = _require_pairing(session, gateway)
        phone = _read_phone(phone_number)
        reported = gateway.simulate_scan(name, phone)
        try:
            return apply_status_report(session, reported.status, reported.phone_number).session
        except ValidationError as exc:
            raise SessionLifecycleError(" ".join(exc.messages)) from exc


def _require_pairing(session: WhatsAppSession, gateway: BaseGatewayBackend) -> str:
    name = session.gateway_name(gateway.session_key)
    if not name:
        raise SessionLifecycleError(_no_gateway_name(session, gateway))
    if session.status != WhatsAppSession.Status.CONNECTING:
        raise SessionLifecycleError(
            _("Session %(id)s is %(status)s, not pairing.")
            % {"id": session.pk, "status": session.status_in_sentence}
        )
    return name


def _no_gateway_name(session: WhatsAppSession, gateway: BaseGatewayBackend) -> str:
    return _('Session %(id)s has no "%(key)s".') % {"id": session.pk, "key": gateway.session_key}


def _read_phone(phone_number: str) -> str:
    try:
        return normalize_phone_number(phone_number)
    except ValidationError as exc:
        raise SessionLifecycleError(" ".join(exc.messages)) from exc


def session_logout(
    *, session: WhatsAppSession, gateway: BaseGatewayBackend | None = None
) -> WhatsAppSession:
    """Log `session` out on the gateway, then record it disconnected.

    Refused, changing nothing, for a superseded session (its gateway name may belong to the live
    one now) or one without a gateway name, and when the gateway fails.
    """
    with _gateway_for(gateway) as gateway:
        name = session.gateway_name(gateway.session_key)
        if not name:
            raise SessionLifecycleError(_no_gateway_name(session, gateway))
        if session.superseded_by_id is not None:
            raise SessionLifecycleError(
                _("Session %(id)s was superseded by %(successor)s; log that one out instead.")
                % {"id": session.pk, "successor": session.superseded_by_id}
            )
        try:
            gateway.logout(name)
        except GatewayError as exc:
            raise SessionLifecycleError(
                _("The gateway did not log the session out: %(error)s") % {"error": exc}
            ) from exc
        return apply_status_report(session, WhatsAppSession.Status.DISCONNECTED).session


@dataclass(frozen=True)
class PairingProgress:
    """What the pairing page shows about `session`, read again at every poll.

    `outcome` is one of: "waiting" (not scanned yet), "connected", "other_phone" (a phone other
    than the predecessor's was scanned: nothing moved) and "disconnected" (the gateway gave up).
    """

    session: WhatsAppSession
    predecessor: WhatsAppSession | None
    outcome: str
    migrations: list[SessionMigration] = field(default_factory=list)


def pairing_progress(
    *, session: WhatsAppSession, predecessor: WhatsAppSession | None = None
) -> PairingProgress:
    """Where the pairing of `session` stands, and the migrations into it (two queries)."""
    migrations = list(
        SessionMigration.objects.filter(new_session=session).order_by("created_at", "pk")
    )
    if session.status == WhatsAppSession.Status.CONNECTING:
        outcome = "waiting"
    elif session.status == WhatsAppSession.Status.DISCONNECTED:
        outcome = "disconnected"
    elif predecessor is not None and predecessor.phone_number != session.phone_number:
        outcome = "other_phone"
    else:
        outcome = "connected"
    return PairingProgress(session, predecessor, outcome, migrations)


def session_create_from_gateway_metadata(
    *, name: str, metadata: object, session_key: str = SESSION_NAME_KEY
) -> WhatsAppSession | None:
    """A `connecting` session for a gateway name no live session has, when the gateway's
    `metadata` names an existing organization: a pairing started outside the admin.

    `metadata["session"]`, when given, becomes the new session's id. An id some session already
    has is refused: that session was paired from here and is no longer live (superseded), and a
    superseded session never answers to its name again. Returns None, creating nothing, when
    the metadata names no existing organization, or when a concurrent report created the
    session first (its next delivery finds it by name).
    """
    if not isinstance(metadata, dict):
        return None
    organization_id = _uuid_or_none(metadata.get("organization"))
    if organization_id is None or not Organization.objects.filter(pk=organization_id).exists():
        return None
    session_id = _uuid_or_none(metadata.get("session")) or uuid.uuid4()
    if WhatsAppSession.objects.filter(pk=session_id).exists():
        return None
    using = router.db_for_write(WhatsAppSession)
    try:
        with transaction.atomic(using=using):
            session = WhatsAppSession.objects.using(using).create(
                id=session_id,
                organization_id=organization_id,
                status=WhatsAppSession.Status.CONNECTING,
                session_data={session_key: name},
            )
    except IntegrityError:
        return None
    logger.info("Session %s (%s) created from the gateway's metadata", session.pk, name)
    return session


def _uuid_or_none(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
