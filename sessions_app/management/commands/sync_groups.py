"""Read sessions' groups from the gateway: one session, an organization's, or every live one."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from sessions_app.models import Organization, WhatsAppSession
from sessions_app.services.groups import GroupSyncError, sessions_sync_groups, sync_groups


class Command(BaseCommand):
    help = (
        "Sync WhatsApp groups from the gateway: new groups are created, renamed ones updated, "
        "groups the gateway no longer lists made inactive. Without options, every connected "
        "session that is not superseded. Exits non-zero when any sync failed."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--session", help="Only this session (its id).")
        which.add_argument("--organization", help="Only this organization's sessions (its id).")

    def handle(self, *args, session: str | None, organization: str | None, **options):
        if session is not None:
            return self._sync_one(_get(WhatsAppSession, session, "session"))
        sessions = WhatsAppSession.objects.all()
        if organization is not None:
            sessions = sessions.filter(
                organization=_get(Organization, organization, "organization")
            )
        report = sessions_sync_groups(queryset=sessions)
        for outcome in report.outcomes:
            if outcome.error:
                self.stderr.write(outcome.error)
            else:
                self._print(outcome.result)
        synced = len(report.outcomes) - len(report.failed)
        self.stdout.write(
            f"{synced} synced, {len(report.failed)} failed, "
            f"{report.skipped} skipped (superseded or not connected)"
        )
        if report.failed:
            raise CommandError(f"{len(report.failed)} session(s) could not be synced.")

    def _sync_one(self, session: WhatsAppSession) -> None:
        try:
            self._print(sync_groups(session))
        except GroupSyncError as exc:
            raise CommandError(str(exc)) from exc

    def _print(self, result) -> None:
        self.stdout.write(f"{result.session.pk}: {result.summary()}")
        for group in result.vanished:
            if group.pending_messages:
                self.stdout.write(
                    f"  {group.group_jid} ({group.name or 'no name'}) is no longer listed: "
                    f"{group.pending_messages} pending message(s) wait on it"
                )


def _get(model, value: str, label: str):
    if not value.strip():
        raise CommandError(f"--{label} needs an id; it was empty.")
    try:
        found = model.objects.filter(pk=value.strip()).first()
    except ValidationError as exc:
        raise CommandError(f"{value!r} is not a valid id for --{label}.") from exc
    if found is None:
        raise CommandError(f"No {label} has id {value}.")
    return found
