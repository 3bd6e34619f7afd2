import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact
from django.utils.translation import gettext_lazy as _

from sessions_app.fields import E164PhoneNumberField, JSONTypeOf
from sessions_app.gateway.base import GATEWAY_NAME_KEYS


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, help_text="Shown to staff in every list.")
    community_session = models.ForeignKey(
        "sessions_app.WhatsAppSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="community_of",
        help_text="The session that posts to the organization's WhatsApp community.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "organizations"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OrganizationMembership(models.Model):
    """Staff see and act on the data of the organizations they belong to."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="organization_memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "organization_memberships"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], name="organization_membership_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization}"


class WhatsAppSession(models.Model):
    class Status(models.TextChoices):
        CONNECTING = "connecting", "Connecting"
        CONNECTED = "connected", "Connected"
        DISCONNECTED = "disconnected", "Disconnected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="whatsapp_sessions"
    )
    phone_number = E164PhoneNumberField(
        null=True,
        blank=True,
        help_text="The paired phone in E.164 (+5511999999999); empty until the gateway reports it.",
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.CONNECTING, db_index=True
    )
    session_data = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "The gateway's handle for this session (its name there, e.g. "
            '{"session_name": "aurora-3f2a9c1d"}) and what the gateway told about it. '
            "Set by the product, never typed."
        ),
    )
    superseded_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="supersedes",
        help_text="The newer session this one's references were moved to.",
    )
    connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_report_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "When the last status report applied to this session was made: the gateway's event "
            "time where it signs one, else the time of receipt. Older reports change nothing."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "whatsapp_sessions"
        ordering = ["-created_at"]
        verbose_name = "WhatsApp session"
        indexes = [
            models.Index(
                fields=["organization", "phone_number", "status"],
                name="wa_session_org_phone_status",
            ),
            # What the sessions list sorts and searches by, cheap at any number of sessions. The
            # admin breaks ties by descending id: with it in the index, no run of equal values
            # (the many sessions never disconnected) is ever sorted whole.
            models.Index(fields=["phone_number", "id"], name="wa_session_phone"),
            models.Index(fields=["created_at", "id"], name="wa_session_created_at"),
            models.Index(fields=["connected_at", "id"], name="wa_session_connected_at"),
            models.Index(fields=["disconnected_at", "id"], name="wa_session_disconnected_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Exact(JSONTypeOf("session_data"), "object"),
                name="whatsapp_session_data_is_object",
            ),
            # A gateway name addresses exactly one live session, so one organization.
            *(
                models.UniqueConstraint(
                    KeyTextTransform(key, "session_data"),
                    condition=Q(superseded_by__isnull=True),
                    name=f"whatsapp_session_live_{key}_unique",
                )
                for key in GATEWAY_NAME_KEYS
            ),
        ]
        permissions = [
            ("migrate_whatsappsession", "Can move references between WhatsApp sessions"),
        ]

    def __str__(self) -> str:
        phone = self.phone_number or "no phone yet"
        return f"{phone} · {self.get_status_display()} · {str(self.id)[:8]}"

    @property
    def gateway_session_name(self) -> str | None:
        """The gateway's name for this session, whichever backend's key holds it (`session_name`
        or `vps_session_id`): what staff see. Calls to a gateway read the backend's own key."""
        for key in GATEWAY_NAME_KEYS:
            if name := self.gateway_name(key):
                return name
        return None

    def gateway_name(self, key: str) -> str | None:
        """The gateway's name for this session under `key`, or None."""
        data = self.session_data if isinstance(self.session_data, dict) else {}
        name = data.get(key)
        return name if isinstance(name, str) and name else None


class WhatsAppGroup(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: the unique (session, group_jid) index serves lookups by session.
    session = models.ForeignKey(
        WhatsAppSession, on_delete=models.PROTECT, related_name="groups", db_index=False
    )
    group_jid = models.CharField(
        _("group JID"),
        max_length=100,
        help_text="The group's WhatsApp id, e.g. 120363012345678901@g.us.",
    )
    name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text="Inactive groups are kept as history of an earlier session.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "whatsapp_groups"
        ordering = ["name"]
        verbose_name = "WhatsApp group"
        constraints = [
            models.UniqueConstraint(
                fields=["session", "group_jid"], name="whatsapp_group_session_jid_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.group_jid


class GatewayEvent(models.Model):
    """An event id a gateway sent, kept for a while so a redelivered event changes nothing."""

    event_id = models.CharField(max_length=200, unique=True)
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "gateway_events"

    def __str__(self) -> str:
        return self.event_id


class SessionMigration(models.Model):
    """The audit of one move of references from an old session to a newer one."""

    class Trigger(models.TextChoices):
        AUTOMATIC = "automatic", "Automatic"
        ADMIN = "admin", "Admin"
        COMMAND = "command", "Command"
        UNDO = "undo", "Undo"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="session_migrations"
    )
    old_session = models.ForeignKey(
        WhatsAppSession, on_delete=models.PROTECT, related_name="migrations_out"
    )
    new_session = models.ForeignKey(
        WhatsAppSession, on_delete=models.PROTECT, related_name="migrations_in"
    )
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="session_migrations",
    )
    forced = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    counts = models.JSONField(default=dict)
    # {"workshops": [id, ...], "groups_moved": [...], ...}: what moved, per table.
    moved_ids = models.JSONField(default=dict)
    # What else the move changed, so an undo can put it back: the sessions' `superseded_by` and
    # `updated_at` before, and the groups it activated.
    prior_state = models.JSONField(
        default=dict, blank=True, db_default=models.Value({}, models.JSONField())
    )
    # On an undo: the migration it reverts (which then shows "undone by" this one), and the rows
    # it left where they were, {count key: [{"id": ..., "reason": ...}, ...]}.
    undoes = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="undone_by",
    )
    left_ids = models.JSONField(
        default=dict, blank=True, db_default=models.Value({}, models.JSONField())
    )

    class Meta:
        db_table = "session_migrations"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(old_session=models.F("new_session")),
                name="session_migration_distinct_sessions",
            ),
            models.CheckConstraint(
                condition=(Q(trigger="undo") & Q(undoes__isnull=False))
                | (~Q(trigger="undo") & Q(undoes__isnull=True)),
                name="session_migration_undo_links_its_original",
            ),
        ]

    def __str__(self) -> str:
        return f"{str(self.old_session_id)[:8]} → {str(self.new_session_id)[:8]}"
