import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from sessions_app.dates import local_datetime


class ScheduledEvent(models.Model):
    """Fields shared by workshops and webinars: both send reminders through one session."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "sessions_app.Organization",
        on_delete=models.PROTECT,
        related_name="%(class)ss",
        verbose_name=_("organization"),
    )
    title = models.CharField(_("title"), max_length=200)
    starts_at = models.DateTimeField(_("starts at"))
    whatsapp_session = models.ForeignKey(
        "sessions_app.WhatsAppSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="%(class)ss",
        verbose_name=_("WhatsApp session"),
        help_text=_("The session that sends this event's reminders."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return self.title


class Workshop(ScheduledEvent):
    class Meta(ScheduledEvent.Meta):
        db_table = "workshops"
        verbose_name = _("workshop")
        verbose_name_plural = _("workshops")


class Webinar(ScheduledEvent):
    class Meta(ScheduledEvent.Meta):
        db_table = "webinars"
        verbose_name = _("webinar")
        verbose_name_plural = _("webinars")


class NotificationCampaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", pgettext_lazy("campaign status", "Draft")
        SCHEDULED = "scheduled", pgettext_lazy("campaign status", "Scheduled")
        PENDING = "pending", pgettext_lazy("campaign status", "Pending")
        SENDING = "sending", pgettext_lazy("campaign status", "Sending")
        COMPLETED = "completed", pgettext_lazy("campaign status", "Completed")
        FAILED = "failed", pgettext_lazy("campaign status", "Failed")
        CANCELLED = "cancelled", pgettext_lazy("campaign status", "Cancelled")

    # Campaigns that still have to be sent follow a reconnect; finished ones keep their history.
    ACTIVE_STATUSES = (Status.SCHEDULED, Status.PENDING, Status.SENDING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "sessions_app.Organization",
        on_delete=models.PROTECT,
        related_name="notification_campaigns",
        verbose_name=_("organization"),
    )
    name = models.CharField(_("name"), max_length=200)
    session = models.ForeignKey(
        "sessions_app.WhatsAppSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notification_campaigns",
        verbose_name=_("WhatsApp session"),
        help_text=_("The session that sends this campaign."),
        # No index of its own: the (session, status) index below serves lookups by session.
        db_index=False,
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    body = models.TextField(_("text"), blank=True)
    scheduled_at = models.DateTimeField(_("scheduled at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        db_table = "notification_campaigns"
        ordering = ["-created_at"]
        verbose_name = _("notification campaign")
        verbose_name_plural = _("notification campaigns")
        indexes = [
            # A session's active campaigns (what a migration moves and staff count) in the index
            # alone: finished ones stay on old sessions and would be read one by one.
            models.Index(fields=["session", "status"], name="campaign_session_status"),
        ]

    def __str__(self) -> str:
        return self.name


class ScheduledWhatsAppMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("message status", "Pending")
        SENDING = "sending", pgettext_lazy("message status", "Sending")
        SENT = "sent", pgettext_lazy("message status", "Sent")
        FAILED = "failed", pgettext_lazy("message status", "Failed")
        CANCELLED = "cancelled", pgettext_lazy("message status", "Cancelled")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    group = models.ForeignKey(
        "sessions_app.WhatsAppGroup",
        on_delete=models.PROTECT,
        related_name="scheduled_messages",
        verbose_name=_("group"),
        help_text=_("The WhatsApp group the message is posted to."),
        # No index of its own: the (group, status) index below serves lookups by group.
        db_index=False,
    )
    workshop = models.ForeignKey(
        Workshop,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="scheduled_messages",
        verbose_name=_("workshop"),
    )
    webinar = models.ForeignKey(
        Webinar,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="scheduled_messages",
        verbose_name=_("webinar"),
    )
    body = models.TextField(_("text"))
    send_at = models.DateTimeField(_("send at"), help_text=_("When the message is due."))
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # Dispatcher bookkeeping: a retry waits for next_attempt_at; a claim ends at lease_expires_at.
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    lease_expires_at = models.DateTimeField(_("claim expires at"), null=True, blank=True)
    claimed_by = models.CharField(_("claimed by"), max_length=100, blank=True)
    gateway_message_id = models.CharField(_("gateway message id"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        db_table = "scheduled_whatsapp_messages"
        ordering = ["send_at"]
        verbose_name = _("scheduled WhatsApp message")
        verbose_name_plural = _("scheduled WhatsApp messages")
        constraints = [
            models.CheckConstraint(
                condition=(Q(workshop__isnull=False) & Q(webinar__isnull=True))
                | (Q(workshop__isnull=True) & Q(webinar__isnull=False)),
                name="scheduled_message_one_event",
            ),
        ]
        indexes = [
            # The messages list of one status in its order: by send time, then by descending id
            # (the admin's tie-break), so a page is read off the index, never sorted from a heap
            # of the many messages that share a send time.
            models.Index(fields=["status", "send_at", "-id"], name="scheduled_msg_status_send_id"),
            models.Index(fields=["group", "status"], name="scheduled_msg_group_status"),
            # What the dispatcher claims: pending rows by due time, sending rows by lease.
            models.Index(
                Coalesce("next_attempt_at", "send_at"),
                name="scheduled_msg_pending_due",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["lease_expires_at"],
                name="scheduled_msg_sending_lease",
                condition=Q(status="sending"),
            ),
            # "Needs attention": the outcomes of the last hours, whatever the history's size.
            models.Index(
                fields=["sent_at"], name="scheduled_msg_sent_at", condition=Q(status="sent")
            ),
            models.Index(
                fields=["updated_at"],
                name="scheduled_msg_failed_updated",
                condition=Q(status="failed"),
            ),
            models.Index(
                fields=["updated_at"],
                name="scheduled_msg_retried_updated",
                condition=Q(status="pending", attempts__gt=0),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.body[:40]} @ {local_datetime(self.send_at)}"

    @property
    def event(self):
        return self.workshop or self.webinar


class SessionSendPacing(models.Model):
    """When a session may send its next message: dispatchers space one session's sends apart.

    Keyed by the session's id without a foreign key: it is the dispatcher's bookkeeping, not a
    reference that moves with a reconnect (the new session starts with its own pace).
    """

    session_id = models.UUIDField(_("session id"), primary_key=True)
    next_send_at = models.DateTimeField(_("next send at"))

    class Meta:
        db_table = "whatsapp_session_pacing"
        verbose_name = _("session send pacing")
        verbose_name_plural = _("session send pacing")

    def __str__(self) -> str:
        return f"{self.session_id} next at {self.next_send_at:%H:%M:%S}"


class DispatcherHeartbeat(models.Model):
    """The last pass of one dispatcher process: staff see whether any dispatcher is running.

    One row per dispatcher id, upserted once per pass; rows of dispatchers gone for a week are
    pruned by the same statement.
    """

    dispatcher_id = models.CharField(_("dispatcher id"), max_length=100, primary_key=True)
    first_pass_at = models.DateTimeField(_("first pass at"))
    last_pass_at = models.DateTimeField(_("last pass at"), db_index=True)
    passes = models.PositiveBigIntegerField(_("passes"), default=0)
    # Totals over the dispatcher's life, as its passes reported them.
    sent = models.PositiveBigIntegerField(_("sent"), default=0)
    retried = models.PositiveBigIntegerField(_("retried"), default=0)
    failed = models.PositiveBigIntegerField(_("failed"), default=0)

    class Meta:
        db_table = "dispatcher_heartbeats"
        ordering = ["-last_pass_at"]
        verbose_name = _("dispatcher heartbeat")
        verbose_name_plural = _("dispatcher heartbeats")

    def __str__(self) -> str:
        return f"{self.dispatcher_id} @ {local_datetime(self.last_pass_at)}"
