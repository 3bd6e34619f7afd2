"""Poll the gateway for the status of every session that is not superseded."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from sessions_app.models import Organization, WhatsAppSession
from sessions_app.services.gateway_status import refresh_statuses


class Command(BaseCommand):
    @property
    def help(self) -> str:
        # Translated when the parser is built: argparse cannot format a lazy string.
        return _(
            "Ask the gateway for the status of every session that is not superseded and record "
            "it; exits non-zero when any session could not be refreshed."
        )

    def add_arguments(self, parser):
        parser.add_argument("--organization", help=_("Only this organization's sessions (its id)."))

    def handle(self, *args, organization: str | None, **options):
        sessions = WhatsAppSession.objects.all()
        if organization:
            try:
                exists = Organization.objects.filter(pk=organization).exists()
            except ValidationError as exc:
                raise CommandError(
                    _("%(value)r is not an organization id.") % {"value": organization}
                ) from exc
            if not exists:
                raise CommandError(
                    _("No %(what)s has id %(value)s.")
                    % {"what": _("organization"), "value": organization}
                )
            sessions = sessions.filter(organization_id=organization)
        results = refresh_statuses(queryset=sessions)
        errors = 0
        for result in results:
            name = result.session.gateway_session_name or _("no name")
            label = f"{result.session.pk} ({name})"
            if result.error:
                errors += 1
                self.stderr.write(f"{label}: {result.error}")
            else:
                self.stdout.write(f"{label}: {result.status}")
        self.stdout.write(
            _("%(refreshed)d refreshed, %(failed)d failed")
            % {"refreshed": len(results) - errors, "failed": errors}
        )
        if errors:
            raise CommandError(
                ngettext(
                    "%(count)d session could not be refreshed.",
                    "%(count)d sessions could not be refreshed.",
                    errors,
                )
                % {"count": errors}
            )
