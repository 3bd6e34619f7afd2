"""The one place a session's status, phone number and connection times change."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.utils import timezone

from sessions_app.models import WhatsAppSession
from sessions_app.phones import normalize_phone_number
from sessions_app.services.migration import lock_phone_sessions

_TRACKED_FIELDS = ("status", "phone_number", "connected_at", "disconnected_at")


def apply_status_report(
    session: WhatsAppSession, status: str, phone_number: str | None = None
) -> WhatsAppSession:
    """Record what the gateway (webhook, polling) or staff report about `session`.

    `phone_number` may come in any shape gateways use (`5511999999999:12@s.whatsapp.net`, ...)
    and is stored in E.164. A session keeps its phone for life: a report without one, or a
    disconnect, never clears it, since finding a reconnect's predecessors depends on it.
    Saving a session as connected lets the `post_save` receiver adopt its predecessors.
    Raises ValidationError, changing nothing, for an unknown status or an unreadable phone.
    """
    if status not in WhatsAppSession.Status.values:
        raise ValidationError(
            "Unknown session status %(status)r; expected one of %(choices)s.",
            code="invalid_status",
            params={"status": status, "choices": ", ".join(WhatsAppSession.Status.values)},
        )
    phone = normalize_phone_number(phone_number) if phone_number not in (None, "") else None
    using = router.db_for_write(WhatsAppSession)
    with transaction.atomic(using=using):
        # Lock the session with the phone's other sessions, in id order, as a migration would:
        # the save below runs the adoption, which must never wait on a lock out of order.
        locked = {
            s.pk: s
            for s in lock_phone_sessions(session, phone or session.phone_number, using=using)
        }
        current = locked.get(session.pk)
        if current is None:
            raise ValidationError(
                "Session %(id)s does not exist.", code="invalid", params={"id": session.pk}
            )
        changed = _apply(current, status=status, phone=phone)
        if changed:
            current.save(using=using, update_fields=[*changed, "updated_at"])
    for name in (*_TRACKED_FIELDS, "updated_at", "superseded_by_id"):
        setattr(session, name, getattr(current, name))
    return current


def _apply(session: WhatsAppSession, *, status: str, phone: str | None) -> list[str]:
    """Set the reported values on `session`; return the names of the fields that changed."""
    changed = []
    now = timezone.now()
    if phone and phone != session.phone_number:
        session.phone_number = phone
        changed.append("phone_number")
    if status != session.status:
        session.status = status
        changed.append("status")
        if status == WhatsAppSession.Status.CONNECTED:
            session.connected_at = now
            changed.append("connected_at")
        elif status == WhatsAppSession.Status.DISCONNECTED:
            session.disconnected_at = now
            changed.append("disconnected_at")
    return changed
