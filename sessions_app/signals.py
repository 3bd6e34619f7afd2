"""A session saved as connected adopts the references of its phone's earlier sessions."""

import logging

from django.db import router, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from sessions_app.models import SessionMigration, WhatsAppSession
from sessions_app.services.migration import adopt_predecessors

logger = logging.getLogger(__name__)


@receiver(post_save, sender=WhatsAppSession, dispatch_uid="sessions_app.adopt_on_connect")
def adopt_predecessors_on_connect(sender, instance: WhatsAppSession, raw: bool, **kwargs) -> None:
    if raw or instance.status != WhatsAppSession.Status.CONNECTED or not instance.phone_number:
        return
    try:
        # A savepoint: a failed migration rolls back alone, never the status change that
        # triggered it; `migrate_sessions --auto` picks it up later.
        with transaction.atomic(using=kwargs.get("using") or router.db_for_write(sender)):
            adopt_predecessors(instance, trigger=SessionMigration.Trigger.AUTOMATIC)
    except Exception:
        logger.exception(
            "Automatic migration into session %s failed; `manage.py migrate_sessions --auto` "
            "will retry it",
            instance.pk,
        )
