"""Poll the gateway for the status of every session that is not superseded."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from sessions_app.models import Organization, WhatsAppSession
from sessions_app.services.gateway_status import refresh_statuses


class Command(BaseCommand):
    help = (
        "Ask the gateway for the status of every session that is not superseded and record it; "
        "exits non-zero when any session could not be refreshed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--organization", help="Only this organization's sessions (its id).")

    def handle(self, *args, organization: str | None, **options):
        sessions = WhatsAppSession.objects.all()
        if organization:
            try:
                exists = Organization.objects.filter(pk=organization).exists()
            except ValidationError as exc:
                raise CommandError(f"{organization!r} is not an organization id.") from exc
            if not exists:
                raise CommandError(f"No organization has id {organization}.")
            sessions = sessions.filter(organization_id=organization)
        results = refresh_statuses(queryset=sessions)
        errors = 0
        for result in results:
            label = f"{result.session.pk} ({result.session.gateway_session_name or 'no name'})"
            if result.error:
                errors += 1
                self.stderr.write(f"{label}: {result.error}")
            else:
                self.stdout.write(f"{label}: {result.status}")
        self.stdout.write(f"{len(results) - errors} refreshed, {errors} failed")
        if errors:
            raise CommandError(f"{errors} session(s) could not be refreshed.")
