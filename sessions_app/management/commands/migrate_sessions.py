"""Move a session's references to another by hand, or sweep for moves the automatic path missed."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Model, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from sessions_app.models import Organization, SessionMigration, WhatsAppSession
from sessions_app.selectors_ids import MIN_ID_PREFIX, IdLookupError, row_by_id_or_prefix
from sessions_app.services.migration import (
    MigrationResult,
    SessionMigrationError,
    migrate_session,
    sweep_references,
    undo_migration,
)


class Command(BaseCommand):
    @property
    def help(self) -> str:
        # Translated when the parser is built: argparse cannot format a lazy string.
        return _(
            "migrate_sessions OLD NEW [--force]: move every reference from session OLD to NEW. "
            "migrate_sessions --auto [--organization ID]: let every connected session adopt its "
            "phone's earlier sessions, and finish superseded sessions that hold references "
            "again. migrate_sessions --undo MIGRATION_ID: move back what that migration moved "
            "and is still where it put it. Every id may be given whole or by its first "
            "%(min)d or more characters, as the admin shows them."
        ) % {"min": MIN_ID_PREFIX}

    def add_arguments(self, parser):
        parser.add_argument("old", nargs="?", help=_("id of the session whose references move"))
        parser.add_argument("new", nargs="?", help=_("id of the connected session they move to"))
        parser.add_argument(
            "--auto", action="store_true", help=_("sweep every session instead of one pair")
        )
        parser.add_argument("--organization", help=_("with --auto: only this organization's id"))
        parser.add_argument(
            "--undo", metavar="MIGRATION_ID", help=_("undo the migration with this audit id")
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help=_("move even when OLD is connected or the phone numbers differ"),
        )
        parser.add_argument(
            "--dry-run", action="store_true", help=_("report what would move, change nothing")
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help=_("print the result as JSON")
        )

    def handle(self, *args, old, new, auto, organization, undo, force, dry_run, as_json, **options):
        if organization is not None and not auto:
            raise CommandError(_("--organization only goes with --auto."))
        if undo is not None:
            if old or new or auto or force:
                raise CommandError(_("--undo takes a migration id only (and --dry-run, --json)."))
            self._undo(undo, dry_run=dry_run, as_json=as_json)
            return
        if auto:
            if old or new:
                raise CommandError(_("--auto takes no session ids."))
            if force:
                raise CommandError(_("--auto never forces a move; --force is for OLD NEW."))
            results, failures = self._sweep(organization, dry_run=dry_run)
        else:
            if not (old and new):
                raise CommandError(_("Give OLD and NEW session ids, or --auto."))
            old_session = _named_row(WhatsAppSession.objects.all(), old, _("session"))
            new_session = _named_row(WhatsAppSession.objects.all(), new, _("session"))
            try:
                result = migrate_session(
                    old_session,
                    new_session,
                    trigger=SessionMigration.Trigger.COMMAND,
                    dry_run=dry_run,
                    force=force,
                )
            except SessionMigrationError as exc:
                raise CommandError(str(exc)) from exc
            results, failures = [result], []
        if as_json:
            self.stdout.write(_as_json(results, dry_run=dry_run))
        else:
            self._print_table(results, dry_run=dry_run)
        for session_id, reason in failures:
            self.stderr.write(f"{session_id}: {reason}")
        if failures:
            raise CommandError(
                ngettext(
                    "%(count)d move refused; see above.",
                    "%(count)d moves refused; see above.",
                    len(failures),
                )
                % {"count": len(failures)}
            )

    def _undo(self, value: str, *, dry_run: bool, as_json: bool) -> None:
        migration = _named_row(SessionMigration.objects.all(), value, _("migration"))
        try:
            result = undo_migration(migration, actor=None, dry_run=dry_run)
        except SessionMigrationError as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "dry_run": dry_run,
                        "undoes": str(migration.pk),
                        "undo": str(result.undo.pk) if result.undo else None,
                        "old": str(migration.old_session_id),
                        "new": str(migration.new_session_id),
                        "counts": result.counts,
                        "moved_ids": result.moved_ids,
                        "left": result.left,
                    }
                )
            )
            return
        sessions = {"new": migration.new_session_id, "old": migration.old_session_id}
        if dry_run:
            self.stdout.write(_("Would move back %(new)s → %(old)s") % sessions)
        else:
            self.stdout.write(_("Moved back %(new)s → %(old)s") % sessions)
        for key, count in result.counts.items():
            self.stdout.write(f"  {key:<20} {count:>8}")
        for key, rows in result.left.items():
            for row in rows:
                left = {"key": key, "id": row["id"], "reason": row["reason"]}
                self.stdout.write("  " + _("left %(key)s %(id)s: %(reason)s") % left)

    def _sweep(self, organization, *, dry_run):
        organization_id = None
        if organization is not None:
            # An unset shell variable must not turn into a sweep of every organization.
            if not organization.strip():
                raise CommandError(_("--organization is empty; give an organization id."))
            named = _named_row(Organization.objects.all(), organization, _("organization"))
            organization_id = named.pk
        report = sweep_references(
            organization_id=organization_id,
            trigger=SessionMigration.Trigger.COMMAND,
            dry_run=dry_run,
        )
        return report.results, report.failures

    def _print_table(self, results: list[MigrationResult], *, dry_run: bool) -> None:
        if not results:
            self.stdout.write(_("Nothing to move."))
            return
        for result in results:
            sessions = {"old": result.old.pk, "new": result.new.pk}
            if dry_run:
                self.stdout.write(_("Would move %(old)s → %(new)s") % sessions)
            else:
                self.stdout.write(_("Moved %(old)s → %(new)s") % sessions)
            for key, count in result.counts.items():
                self.stdout.write(f"  {key:<20} {count:>8}")
        total = sum(result.total for result in results)
        migrations = ngettext("%(count)d migration", "%(count)d migrations", len(results)) % {
            "count": len(results)
        }
        rows = ngettext("%(count)d row", "%(count)d rows", total) % {"count": total}
        self.stdout.write(f"{migrations}, {rows}.")


def _named_row(queryset: QuerySet, value: str, what: str) -> Model:
    """The row `value` names, by its whole id or an unambiguous start of it."""
    try:
        return row_by_id_or_prefix(queryset, value, what=what)
    except IdLookupError as exc:
        raise CommandError(str(exc)) from None


def _as_json(results: list[MigrationResult], *, dry_run: bool) -> str:
    return json.dumps(
        {
            "dry_run": dry_run,
            "migrations": [
                {
                    "old": str(r.old.pk),
                    "new": str(r.new.pk),
                    "counts": r.counts,
                    # The audit entry, which `--undo` takes; none on a dry run or when nothing
                    # moved.
                    "migration": str(r.migration.pk) if r.migration is not None else None,
                }
                for r in results
            ],
        }
    )
