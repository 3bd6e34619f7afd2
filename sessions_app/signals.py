"""A session saved as connected adopts the references of its phone's earlier sessions, then
syncs its groups from the gateway; one that disconnects after a newer session of its phone
connected hands them over."""

import functools
import logging

from django.db import router, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from sessions_app.models import SessionMigration, WhatsAppSession
from sessions_app.services.groups import sync_groups_after_connect
from sessions_app.services.migration import adopt_into_live_successor, adopt_predecessors

logger = logging.getLogger(__name__)


@receiver(post_save, sender=WhatsAppSession, dispatch_uid="sessions_app.adopt_on_connect")
def adopt_predecessors_on_connect(
    sender, instance: WhatsAppSession, raw: bool, created: bool, update_fields=None, **kwargs
) -> None:
    if raw or not instance.phone_number:
        return
    if instance.status == WhatsAppSession.Status.CONNECTED:
        adopt = adopt_predecessors
    elif (
        instance.status == WhatsAppSession.Status.DISCONNECTED
        and not created
        and (update_fields is None or "status" in update_fields)
    ):
        # Its disconnect arrived after the successor's connect: gateways deliver out of order.
        adopt = adopt_into_live_successor
    else:
        return
    try:
        # A savepoint: a failed migration rolls back alone, never the status change that
        # triggered it; `migrate_sessions --auto` picks it up later.
        with transaction.atomic(using=kwargs.get("using") or router.db_for_write(sender)):
            adopt(instance, trigger=SessionMigration.Trigger.AUTOMATIC)
    except Exception:
        logger.exception(
            "Automatic migration of session %s failed; `manage.py migrate_sessions --auto` "
            "will retry it",
            instance.pk,
        )


# Connected after the receiver above, so it runs after the adoption: groups the migration moved
# are then updated in place, never created twice.
@receiver(post_save, sender=WhatsAppSession, dispatch_uid="sessions_app.sync_groups_on_connect")
def sync_groups_on_connect(
    sender, instance: WhatsAppSession, raw: bool, created: bool, update_fields=None, **kwargs
) -> None:
    if raw or instance.status != WhatsAppSession.Status.CONNECTED:
        return
    if not (created or update_fields is None or "status" in update_fields):
        return  # already connected: only a change to connected asks the gateway
    # After the commit, outside the transaction: the gateway call holds no lock, and the sync
    # sees the migration's result.
    transaction.on_commit(
        functools.partial(sync_groups_after_connect, instance.pk),
        using=kwargs.get("using") or router.db_for_write(sender),
    )
