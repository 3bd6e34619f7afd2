"""Read sessions' groups from the gateway: one session, an organization's, or every live one."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from sessions_app.models import Organization, WhatsAppSession
from sessions_app.services.groups import GroupSyncError, sessions_sync_groups, sync_groups


class Command(BaseCommand):
    @property
    def help(self) -> str:
        # Translated when the parser is built: argparse cannot format a lazy string.
        return _(
            "Sync WhatsApp groups from the gateway: new groups are created, renamed ones "
            "updated, groups the gateway no longer lists made inactive. Without options, every "
            "connected session that is not superseded. Exits non-zero when any sync failed."
        )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--session", help=_("Only this session (its id)."))
        which.add_argument("--organization", help=_("Only this organization's sessions (its id)."))

    def handle(self, *args, session: str | None, organization: str | None, **options):
        if session is not None:
            return self._sync_one(_get(WhatsAppSession, session, "session", _("session")))
        sessions = WhatsAppSession.objects.all()
        if organization is not None:
            sessions = sessions.filter(
                organization=_get(Organization, organization, "organization", _("organization"))
            )
        report = sessions_sync_groups(queryset=sessions)
        for outcome in report.outcomes:
            if outcome.error:
                self.stderr.write(outcome.error)
            else:
                self._print(outcome.result)
        failed = len(report.failed)
        self.stdout.write(
            _(
                "%(synced)d synced, %(failed)d failed, %(skipped)d skipped (superseded or not "
                "connected)"
            )
            % {
                "synced": len(report.outcomes) - failed,
                "failed": failed,
                "skipped": report.skipped,
            }
        )
        if failed:
            raise CommandError(
                ngettext(
                    "%(count)d session could not be synced.",
                    "%(count)d sessions could not be synced.",
                    failed,
                )
                % {"count": failed}
            )

    def _sync_one(self, session: WhatsAppSession) -> None:
        try:
            self._print(sync_groups(session))
        except GroupSyncError as exc:
            raise CommandError(str(exc)) from exc

    def _print(self, result) -> None:
        self.stdout.write(f"{result.session.pk}: {result.summary()}")
        for group in result.vanished:
            if pending := group.pending_messages:
                vanished = {
                    "group": group.group_jid,
                    "name": group.name or _("no name"),
                    "count": pending,
                }
                self.stdout.write(
                    "  "
                    + ngettext(
                        "%(group)s (%(name)s) is no longer listed: %(count)d pending message "
                        "waits on it",
                        "%(group)s (%(name)s) is no longer listed: %(count)d pending messages "
                        "wait on it",
                        pending,
                    )
                    % vanished
                )


def _get(model, value: str, option: str, what: str):
    """The row of `model` whose id is `value`, given with `--option`; `what` names the row."""
    if not value.strip():
        raise CommandError(_("--%(option)s needs an id; it was empty.") % {"option": option})
    try:
        found = model.objects.filter(pk=value.strip()).first()
    except ValidationError as exc:
        raise CommandError(
            _("%(value)r is not a valid id for --%(option)s.") % {"value": value, "option": option}
        ) from exc
    if found is None:
        raise CommandError(_("No %(what)s has id %(value)s.") % {"what": what, "value": value})
    return found
