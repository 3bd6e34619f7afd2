import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce


class ScheduledEvent(models.Model):
    """Fields shared by workshops and webinars: both send reminders through one session."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "sessions_app.Organization", on_delete=models.PROTECT, related_name="%(class)ss"
    )
    title = models.CharField(max_length=200)
    starts_at = models.DateTimeField()
    whatsapp_session = models.ForeignKey(
        "sessions_app.WhatsAppSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="%(class)ss",
        help_text="The session that sends this event's reminders.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return self.title


class Workshop(ScheduledEvent):
    class Meta(ScheduledEvent.Meta):
        db_table = "workshops"


class Webinar(ScheduledEvent):
    class Meta(ScheduledEvent.Meta):
        db_table = "webinars"


class NotificationCampaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    # Campaigns that still have to be sent follow a reconnect; finished ones keep their history.
    ACTIVE_STATUSES = (Status.SCHEDULED, Status.PENDING, Status.SENDING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "sessions_app.Organization",
        on_delete=models.PROTECT,
        related_name="notification_campaigns",
    )
    name = models.CharField(max_length=200)
    session = models.ForeignKey(
        "sessions_app.WhatsAppSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notification_campaigns",
        help_text="The session that sends this campaign.",
        # No index of its own: the (session, status) index below serves lookups by session.
        db_index=False,
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    body = models.TextField(blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "notification_campaigns"
        ordering = ["-created_at"]
        indexes = [
            # A session's active campaigns (what a migration moves and staff count) in the index
            # alone: finished ones stay on old sessions and would be read one by one.
            models.Index(fields=["session", "status"], name="campaign_session_status"),
        ]

    def __str__(self) -> str:
        return self.name


class ScheduledWhatsAppMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    group = models.ForeignKey(
        "sessions_app.WhatsAppGroup",
        on_delete=models.PROTECT,
        related_name="scheduled_messages",
        help_text="The WhatsApp group the message is posted to.",
        # No index of its own: the (group, status) index below serves lookups by group.
        db_index=False,
    )
    workshop = models.ForeignKey(
        Workshop,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="scheduled_messages",
    )
    webinar = models.ForeignKey(
        Webinar,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="scheduled_messages",
    )
    body = models.TextField()
    send_at = models.DateTimeField(help_text="When the message is due.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Dispatcher bookkeeping: a retry waits for next_attempt_at; a claim ends at lease_expires_at.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    gateway_message_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "scheduled_whatsapp_messages"
        ordering = ["send_at"]
        verbose_name = "scheduled WhatsApp message"
        constraints = [
            models.CheckConstraint(
                condition=(Q(workshop__isnull=False) & Q(webinar__isnull=True))
                | (Q(workshop__isnull=True) & Q(webinar__isnull=False)),
                name="scheduled_message_one_event",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "send_at"], name="scheduled_msg_status_send_at"),
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
        return f"{self.body[:40]} @ {self.send_at:%Y-%m-%d %H:%M}"

    @property
    def event(self):
        return self.workshop or self.webinar


class SessionSendPacing(models.Model):
    """When a session may send its next message: dispatchers space one session's sends apart.

    Keyed by the session's id without a foreign key: it is the dispatcher's bookkeeping, not a
    reference that moves with a reconnect (the new session starts with its own pace).
    """

    session_id = models.UUIDField(primary_key=True)
    next_send_at = models.DateTimeField()

    class Meta:
        db_table = "whatsapp_session_pacing"
        verbose_name = "session send pacing"

    def __str__(self) -> str:
        return f"{self.session_id} next at {self.next_send_at:%H:%M:%S}"


class DispatcherHeartbeat(models.Model):
    """The last pass of one dispatcher process: staff see whether any dispatcher is running.

    One row per dispatcher id, upserted once per pass; rows of dispatchers gone for a week are
    pruned by the same statement.
    """

    dispatcher_id = models.CharField(max_length=100, primary_key=True)
    first_pass_at = models.DateTimeField()
    last_pass_at = models.DateTimeField(db_index=True)
    passes = models.PositiveBigIntegerField(default=0)
    # Totals over the dispatcher's life, as its passes reported them.
    sent = models.PositiveBigIntegerField(default=0)
    retried = models.PositiveBigIntegerField(default=0)
    failed = models.PositiveBigIntegerField(default=0)

    class Meta:
        db_table = "dispatcher_heartbeats"
        ordering = ["-last_pass_at"]

    def __str__(self) -> str:
        return f"{self.dispatcher_id} at {self.last_pass_at:%Y-%m-%d %H:%M:%S}"
