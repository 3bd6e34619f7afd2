import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from sessions_app.fields import E164PhoneNumberField, JSONTypeOf
from sessions_app.gateway.base import GATEWAY_NAME_KEYS


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=200, help_text=_("Shown to staff in every list."))
    community_session = models.ForeignKey(
        "sessions_app.WhatsAppSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="community_of",
        verbose_name=_("community session"),
        help_text=_("The session that posts to the organization's WhatsApp community."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        db_table = "organizations"
        ordering = ["name"]
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")

    def __str__(self) -> str:
        return self.name


class OrganizationMembership(models.Model):
    """Staff see and act on the data of the organizations they belong to."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="organization_memberships",
        verbose_name=_("user"),
    )
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("organization"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        db_table = "organization_memberships"
        verbose_name = _("organization membership")
        verbose_name_plural = _("organization memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], name="organization_membership_unique"
            )
        ]

    def __str__(self) -> str:
        return gettext("%(user)s in %(organization)s") % {
            "user": self.user,
            "organization": self.organization,
        }


class WhatsAppSession(models.Model):
    class Status(models.TextChoices):
        CONNECTING = "connecting", pgettext_lazy("session status", "Connecting")
        CONNECTED = "connected", pgettext_lazy("session status", "Connected")
        DISCONNECTED = "disconnected", pgettext_lazy("session status", "Disconnected")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="whatsapp_sessions",
        verbose_name=_("organization"),
    )
    phone_number = E164PhoneNumberField(
        _("phone number"),
        null=True,
        blank=True,
        help_text=_(
            "The paired phone in E.164 (+5511999999999); empty until the gateway reports it."
        ),
    )
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=Status.choices,
        default=Status.CONNECTING,
        db_index=True,
    )
    session_data = models.JSONField(
        _("session data"),
        default=dict,
        blank=True,
        help_text=_(
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
        verbose_name=_("superseded by"),
        help_text=_("The newer session this one's references were moved to."),
    )
    connected_at = models.DateTimeField(_("connected at"), null=True, blank=True)
    disconnected_at = models.DateTimeField(_("disconnected at"), null=True, blank=True)
    last_report_at = models.DateTimeField(
        _("last report at"),
        null=True,
        blank=True,
        help_text=_(
            "When the last status report applied to this session was made: the gateway's event "
            "time where it signs one, else the time of receipt. Older reports change nothing."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        db_table = "whatsapp_sessions"
        ordering = ["-created_at"]
        verbose_name = _("WhatsApp session")
        verbose_name_plural = _("WhatsApp sessions")
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
            # The sessions waiting for their phone to reconnect, which the sweep looks for: a
            # few, however many sessions reconnected before.
            models.Index(
                fields=["organization", "phone_number"],
                condition=Q(status="disconnected", superseded_by__isnull=True),
                name="wa_session_waiting",
            ),
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
            ("migrate_whatsappsession", _("Can move references between WhatsApp sessions")),
        ]

    def __str__(self) -> str:
        phone = self.phone_number or gettext("no phone yet")
        return f"{phone} · {self.get_status_display()} · {str(self.id)[:8]}"

    @property
    def status_in_sentence(self) -> str:
        """The status as a sentence of the active language reads it: "session … is
        disconnected", "a sessão … está desconectada"."""
        return self.get_status_display().lower()

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
        WhatsAppSession,
        on_delete=models.PROTECT,
        related_name="groups",
        db_index=False,
        verbose_name=_("WhatsApp session"),
    )
    group_jid = models.CharField(
        _("group JID"),
        max_length=100,
        help_text=_("The group's WhatsApp id, e.g. 120363012345678901@g.us."),
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Inactive groups are kept as history of an earlier session."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        db_table = "whatsapp_groups"
        ordering = ["name"]
        verbose_name = _("WhatsApp group")
        verbose_name_plural = _("WhatsApp groups")
        constraints = [
            models.UniqueConstraint(
                fields=["session", "group_jid"], name="whatsapp_group_session_jid_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.group_jid


class GatewayEvent(models.Model):
    """An event id a gateway sent, kept for a while so a redelivered event changes nothing."""

    event_id = models.CharField(_("event id"), max_length=200, unique=True)
    received_at = models.DateTimeField(_("received at"), db_index=True)

    class Meta:
        db_table = "gateway_events"
        verbose_name = _("gateway event")
        verbose_name_plural = _("gateway events")

    def __str__(self) -> str:
        return self.event_id


class SessionMigration(models.Model):
    """The audit of one move of references from an old session to a newer one."""

    class Trigger(models.TextChoices):
        AUTOMATIC = "automatic", pgettext_lazy("migration trigger", "Automatic")
        ADMIN = "admin", pgettext_lazy("migration trigger", "Admin")
        COMMAND = "command", pgettext_lazy("migration trigger", "Command")
        UNDO = "undo", pgettext_lazy("migration trigger", "Undo")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="session_migrations",
        verbose_name=_("organization"),
    )
    old_session = models.ForeignKey(
        WhatsAppSession,
        on_delete=models.PROTECT,
        related_name="migrations_out",
        verbose_name=_("old session"),
    )
    new_session = models.ForeignKey(
        WhatsAppSession,
        on_delete=models.PROTECT,
        related_name="migrations_in",
        verbose_name=_("new session"),
    )
    trigger = models.CharField(_("trigger"), max_length=20, choices=Trigger.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="session_migrations",
        verbose_name=_("actor"),
    )
    forced = models.BooleanField(_("forced"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    counts = models.JSONField(_("counts"), default=dict)
    # {"workshops": [id, ...], "groups_moved": [...], ...}: what moved, per table.
    moved_ids = models.JSONField(_("moved ids"), default=dict)
    # What else the move changed, so an undo can put it back: the sessions' `superseded_by` and
    # `updated_at` before, and the groups it activated.
    prior_state = models.JSONField(
        _("prior state"),
        default=dict,
        blank=True,
        db_default=models.Value({}, models.JSONField()),
    )
    # On an undo: the migration it reverts (which then shows "undone by" this one), and the rows
    # it left where they were, {count key: [{"id": ..., "reason": ...}, ...]}.
    undoes = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="undone_by",
        verbose_name=_("undoes"),
    )
    left_ids = models.JSONField(
        _("rows left"),
        default=dict,
        blank=True,
        db_default=models.Value({}, models.JSONField()),
    )

    class Meta:
        db_table = "session_migrations"
        ordering = ["-created_at"]
        verbose_name = _("session migration")
        verbose_name_plural = _("session migrations")
        indexes = [
            # The undos, which keep their old session from the automatic path: a few, however
            # long the audit grows.
            models.Index(
                fields=["new_session"], condition=Q(trigger="undo"), name="session_migration_undo"
            ),
        ]
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


class SessionToSweep(models.Model):
    """A superseded session that rows may point at again: noted by PostgreSQL's triggers on every
    table whose rows a move takes (`sessions_app.sweep_marks`), and on the session itself when it
    is superseded. The sweep checks these sessions instead of every superseded one, and forgets a
    note once it has found the session holding nothing twice, the second time after every
    transaction that was running at the first had ended."""

    # No foreign key: a note never makes a writer wait on the session row, nor keeps it alive.
    session_id = models.UUIDField(_("session"))
    # `pg_snapshot_xmax` of the sweep's first look that found the session holding nothing.
    found_empty_xmax = models.BigIntegerField(
        _("found empty at transaction"), null=True, blank=True
    )

    class Meta:
        db_table = "sessions_to_sweep"
        verbose_name = _("session to sweep")
        verbose_name_plural = _("sessions to sweep")
        default_permissions = ()
        # A write that points rows at a noted session looks for its note first.
        indexes = [models.Index(fields=["session_id"], name="session_to_sweep_session")]

    def __str__(self) -> str:
        return str(self.session_id)
