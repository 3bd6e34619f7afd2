"""Send due workshop and webinar messages through the WhatsApp gateway."""

from __future__ import annotations

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections, connection
from django.utils.translation import gettext as _

from scheduling.heartbeats import dispatcher_heartbeat_record
from scheduling.services import (
    KINDS,
    DispatchOptions,
    DispatchResult,
    dispatch_due_messages,
    dispatcher_id,
    release_claims,
)
from sessions_app.gateway import get_gateway
from sessions_app.models import SessionMigration
from sessions_app.services.migration import sweep_references

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    @property
    def help(self) -> str:
        # Translated when the parser is built: argparse cannot format a lazy string.
        return _(
            "Send the due scheduled messages. Without --loop, sends until none is due and "
            "exits; with --loop, keeps polling until SIGTERM or SIGINT. Any number may run at "
            "once."
        )

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help=_("Keep polling until stopped."))
        parser.add_argument(
            "--interval",
            type=float,
            default=5.0,
            help=_("Seconds between polls when nothing is due (with --loop; default 5)."),
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=100,
            help=_("Messages claimed at once (default 100)."),
        )
        parser.add_argument("--kind", choices=KINDS, help=_("Only workshop or webinar messages."))

    def handle(self, *args, loop: bool, interval: float, batch: int, kind: str | None, **options):
        if batch < 1:
            raise CommandError(_("--batch must be at least 1."))
        if interval < 0:
            raise CommandError(_("--interval cannot be negative."))
        if connection.vendor != "postgresql":
            # The claim is PostgreSQL's `FOR UPDATE SKIP LOCKED`: no retry can make it work.
            raise CommandError(
                _("The dispatcher needs PostgreSQL; DATABASE_URL points at %(vendor)s.")
                % {"vendor": connection.vendor}
            )
        stop = threading.Event()
        # Finish the send in flight, give the other claims back, then exit 0.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        worker = dispatcher_id()
        gateway = get_gateway()
        dispatch_options = DispatchOptions(batch_size=batch, kind=kind)
        total = DispatchResult()
        sweep_every = settings.WHATSAPP_DISPATCH_SWEEP_EVERY_PASSES
        passes = 0
        try:
            while not stop.is_set():
                passes += 1
                if loop and sweep_every and passes % sweep_every == 0:
                    self._sweep_superseded()
                try:
                    result = dispatch_due_messages(
                        worker=worker,
                        gateway=gateway,
                        options=dispatch_options,
                        should_stop=stop.is_set,
                    )
                    dispatcher_heartbeat_record(
                        worker=worker,
                        sent=result.sent,
                        retried=result.retried,
                        failed=result.failed,
                    )
                except DatabaseError:
                    if not loop:
                        raise
                    # A restarted database must not end a long-running dispatcher: its claims
                    # expire and are taken again; reconnect on the next pass.
                    logger.exception("Dispatch pass failed; retrying in %s s", interval)
                    close_old_connections()
                    stop.wait(interval)
                    continue
                total.add(result)
                if result.claimed and options["verbosity"] >= 2:
                    self.stdout.write(self._summary(result))
                if not result.claimed:
                    if not loop:
                        break
                    close_old_connections()  # drops a connection past CONN_MAX_AGE or broken
                    stop.wait(interval)
        finally:
            gateway.close()
            try:
                total.released += release_claims(worker=worker)
            except DatabaseError:
                # Unreachable database: the claims are taken again once their lease expires.
                logger.exception("Could not give back the claims of %s", worker)
        if options["verbosity"] >= 1:
            self.stdout.write(self._summary(total))

    @staticmethod
    def _sweep_superseded() -> None:
        """Rows that slipped onto a superseded session go to its live successor: nothing stays
        there longer than this many passes."""
        try:
            report = sweep_references(
                trigger=SessionMigration.Trigger.AUTOMATIC, superseded_only=True
            )
        except DatabaseError:
            logger.exception("Sweep of superseded sessions failed; retrying later")
            close_old_connections()
            return
        for result in report.results:
            logger.info(
                "Sweep moved what was left on superseded session %s to %s: %s",
                result.old.pk,
                result.new.pk,
                result.counts,
            )
        for session_id, reason in report.failures:
            logger.warning("Sweep could not finish session %s: %s", session_id, reason)

    @staticmethod
    def _summary(result: DispatchResult) -> str:
        return _(
            "sent %(sent)d, retried %(retried)d, failed %(failed)d, deferred %(deferred)d, "
            "released %(released)d"
        ) % {
            "sent": result.sent,
            "retried": result.retried,
            "failed": result.failed,
            "deferred": result.deferred,
            "released": result.released,
        }
