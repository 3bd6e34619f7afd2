"""Staff tools: sessions, groups, organizations and the audit of every migration.

The admin only collects input and shows results; every move goes through
`sessions_app.services.migration`, the same code the automatic path and the command use.
"""

import contextlib
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.admin_pairing import OrganizationPairingAdmin, SessionPairingAdmin
from sessions_app.admin_tenancy import OrganizationScopedAdmin, scope_to_user_organizations
from sessions_app.admin_undo import UndoFromAuditMixin
from sessions_app.admin_views.timeline import phone_number as phone_timeline_link
from sessions_app.admin_views.timeline import timeline_urls
from sessions_app.forms import MoveReferencesForm, OrganizationAdminForm, WhatsAppSessionAdminForm
from sessions_app.gateway.admin_actions import (
    refresh_status_from_gateway,
    sync_groups_from_gateway,
)
from sessions_app.models import (
    Organization,
    OrganizationMembership,
    SessionMigration,
    WhatsAppGroup,
    WhatsAppSession,
)
from sessions_app.phones import normalize_phone_number
from sessions_app.references import count_keys
from sessions_app.selectors import (
    moved_id_pages,
    phone_change_of,
    reference_counts_by_session,
    session_reference_counts,
)
from sessions_app.services.migration import (
    MigrationResult,
    SessionMigrationError,
    adopt_predecessors,
    migrate_session,
)
from sessions_app.services.supersession import attach_to_live_sessions

# What a migration reports, in the order staff read it: (counts keys, label, model of the ids).
# "Pending messages" are the rows the session page's panel counts: re-pointed to a merged
# group's successor, or moved with their group (see sessions_app.references).
MIGRATION_COUNT_COLUMNS = [
    (("workshops",), "Workshops", Workshop),
    (("webinars",), "Webinars", Webinar),
    (("campaigns",), "Active campaigns", NotificationCampaign),
    (("organizations",), "Community of organizations", Organization),
    (("groups_moved",), "Groups moved", WhatsAppGroup),
    (("groups_merged",), "Groups merged", WhatsAppGroup),
    (
        ("scheduled_messages", "messages_with_groups"),
        "Pending messages",
        ScheduledWhatsAppMessage,
    ),
]
# How a pending message moved, shown beside it on the audit page.
HOW_MESSAGES_MOVED = {
    "scheduled_messages": "re-pointed to the new session's group",
    "messages_with_groups": "with its group",
}

NOT_CONNECTED_TO_ADOPT = "Not connected: only a connected session adopts earlier ones."

_ACTIVE_CAMPAIGN_STATUSES = ",".join(NotificationCampaign.ACTIVE_STATUSES)

# What still points at a session, per table: (key in `session_reference_counts`, label,
# changelist, the lookup naming the session there, the filters that make the count).
REFERENCE_LINKS = [
    (
        "workshops",
        "Workshops",
        "admin:scheduling_workshop_changelist",
        "whatsapp_session__id__exact",
        {},
    ),
    (
        "webinars",
        "Webinars",
        "admin:scheduling_webinar_changelist",
        "whatsapp_session__id__exact",
        {},
    ),
    (
        "campaigns",
        "Active campaigns",
        "admin:scheduling_notificationcampaign_changelist",
        "session__id__exact",
        {"status__in": _ACTIVE_CAMPAIGN_STATUSES},
    ),
    (
        "organizations",
        "Community of organizations",
        "admin:sessions_app_organization_changelist",
        "community_session__id__exact",
        {},
    ),
    (
        "groups",
        "Active groups",
        "admin:sessions_app_whatsappgroup_changelist",
        "session__id__exact",
        {"is_active__exact": "1"},
    ),
    (
        "scheduled_messages",
        "Pending messages",
        "admin:scheduling_scheduledwhatsappmessage_changelist",
        "group__session__id__exact",
        {"status__exact": ScheduledWhatsAppMessage.Status.PENDING},
    ),
]


def summarize_counts(counts: dict) -> str:
    """`Workshops: 2, Pending messages: 1`, leaving out zeros; "nothing" when all are zero."""
    parts = [
        f"{label}: {count}"
        for label, count in zip(
            (label for _keys, label, _model in MIGRATION_COUNT_COLUMNS),
            count_list(counts),
            strict=True,
        )
        if count
    ]
    return ", ".join(parts) or "nothing"


def count_list(counts: dict) -> list[int]:
    """One number per column of `MIGRATION_COUNT_COLUMNS`."""
    return [
        sum(counts.get(key, 0) for key in keys) for keys, _label, _model in MIGRATION_COUNT_COLUMNS
    ]


def short_datetime(value) -> str:
    """`2026-11-25 06:24`: keeps the wide sessions list readable."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"


def admin_change_link(obj, text=None) -> str:
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text or obj)


@dataclass
class MovePreview:
    """What moving one selected session would do, read from a dry run."""

    source: WhatsAppSession
    counts: dict | None = None
    refusal: str = ""  # refused even with force: nothing of this session will move
    needs_force: str = ""  # refused unless forced, with the reason

    @property
    def count_list(self) -> list[int]:
        return count_list(self.counts or {})


@dataclass
class AdoptPreview:
    """What adopting earlier sessions into one selected session would do."""

    session: WhatsAppSession
    results: list[MigrationResult] = field(default_factory=list)
    refusal: str = ""

    @property
    def rows(self) -> list[tuple[MigrationResult, list[int]]]:
        return [(result, count_list(result.counts)) for result in self.results]


class OrganizationMembershipInline(admin.TabularInline):
    model = OrganizationMembership
    extra = 0
    autocomplete_fields = ["user"]
    verbose_name = "staff member"
    verbose_name_plural = "Staff members"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "user":
            formfield.help_text = "Staff members see and act on this organization's data."
        return formfield


@admin.register(Organization)
class OrganizationAdmin(OrganizationPairingAdmin, OrganizationScopedAdmin, admin.ModelAdmin):
    organization_field = "pk"
    form = OrganizationAdminForm
    list_display = ["name", "community_session", "created_at"]
    search_fields = ["name", "id"]
    autocomplete_fields = ["community_session"]
    inlines = [OrganizationMembershipInline]
    list_select_related = ["community_session"]

    def has_add_permission(self, request):
        # A new organization has no members yet, so only a superuser could ever see it.
        return request.user.is_superuser and super().has_add_permission(request)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        attach_to_live_sessions(Organization.objects.filter(pk=obj.pk))


class SessionChangeList(ChangeList):
    """Counts what points at the sessions shown on the page, not at every session listed."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = list(self.result_list)
        counts = reference_counts_by_session([session.pk for session in self.result_list])
        for session in self.result_list:
            session.reference_count = counts.get(session.pk, 0)


@admin.register(WhatsAppSession)
class WhatsAppSessionAdmin(SessionPairingAdmin, OrganizationScopedAdmin, admin.ModelAdmin):
    form = WhatsAppSessionAdminForm
    # Sortable only where an index keeps it cheap at 20,000 sessions: the id, phone and times;
    # not the organization's or successor's names, nor the reference counts, nor the status
    # (three values: its filter does what sorting would).
    list_display = [
        "short_id",
        "organization_name",
        phone_timeline_link,
        "status_name",
        "created",
        "connected",
        "disconnected",
        "superseded_by_link",
        "reference_count",
    ]
    list_filter = ["status", "organization"]
    search_fields = ["phone_number", "id"]
    list_select_related = ["organization", "superseded_by"]
    autocomplete_fields = ["organization"]
    readonly_fields = [
        "id",
        "gateway_name",
        "phone_number",
        "status",
        "session_data",
        "last_report_at",
        "superseded_by_link",
        "connected_at",
        "disconnected_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["organization", "gateway_name", "phone_number", "status"]}),
        (
            "History",
            {
                "fields": [
                    "id",
                    "superseded_by_link",
                    "connected_at",
                    "disconnected_at",
                    "last_report_at",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
        ("Gateway", {"fields": ["session_data"], "classes": ["collapse"]}),
    ]
    actions = [
        "move_references",
        "adopt_references",
        refresh_status_from_gateway,
        sync_groups_from_gateway,
        "pair_again",
    ]
    move_references_confirmation_template = None
    adopt_references_confirmation_template = None

    # Lists and pages -----------------------------------------------------------------------

    def get_urls(self):
        return [*timeline_urls(self), *super().get_urls()]

    def get_changelist(self, request, **kwargs):
        return SessionChangeList

    def get_readonly_fields(self, request, obj=None):
        # Status, phone and times come from the gateway (apply_status_report) only.
        if obj is None:
            return self.readonly_fields
        return [*self.readonly_fields, "organization"]

    @admin.display(description="Session", ordering="id")
    def short_id(self, session):
        return str(session.id)[:8]

    @admin.display(description="Gateway name")
    def gateway_name(self, session):
        return session.gateway_session_name or "-"

    @admin.display(description="Organization")
    def organization_name(self, session):
        return str(session.organization)

    @admin.display(description="Status")
    def status_name(self, session):
        return session.get_status_display()

    @admin.display(description="Created", ordering="created_at")
    def created(self, session):
        return short_datetime(session.created_at)

    @admin.display(description="Connected", ordering="connected_at")
    def connected(self, session):
        return short_datetime(session.connected_at)

    @admin.display(description="Disconnected", ordering="disconnected_at")
    def disconnected(self, session):
        return short_datetime(session.disconnected_at)

    @admin.display(description="Superseded by")
    def superseded_by_link(self, session):
        return admin_change_link(session.superseded_by)

    # Not sortable: sorting would count references for every session, not just the page's.
    @admin.display(description="Rows pointing here")
    def reference_count(self, session):
        return session.reference_count

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if not search_term.strip():
            return results, may_have_duplicates
        matches = Q(pk__in=results.values("pk"))
        # Staff paste phones the way they see them (`+55 11 99999-9999`); stored ones are E.164.
        with contextlib.suppress(ValidationError):
            matches |= Q(phone_number=normalize_phone_number(search_term))
        # Resolved to ids first: the list's queries then plan for the rows found, not a guess.
        found = list(queryset.filter(matches).order_by().values_list("pk", flat=True))
        return queryset.filter(pk__in=found), False

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["references"] = self.reference_rows(obj)
            context["migration_links"] = self.migration_links(obj)
            context["phone_change"] = phone_change_of(obj)
            context["can_migrate"] = self.has_migrate_permission(request)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def reference_rows(self, session) -> list[dict]:
        """The "What points at this session" panel: a count and a filtered list per table."""
        counts = session_reference_counts(session)
        rows = []
        for key, label, changelist, session_lookup, extra_filters in REFERENCE_LINKS:
            query = urlencode({session_lookup: str(session.pk), **extra_filters})
            rows.append(
                {
                    "label": label,
                    "count": counts.get(key, 0),
                    "url": f"{reverse(changelist)}?{query}",
                }
            )
        return rows

    def migration_links(self, session) -> list[dict]:
        """Links to the audit entries that moved references out of and into this session."""
        involving = SessionMigration.objects.filter(Q(old_session=session) | Q(new_session=session))
        counts = involving.aggregate(
            out_of=Count("pk", filter=Q(old_session=session)),
            into=Count("pk", filter=Q(new_session=session)),
        )
        audit = reverse("admin:sessions_app_sessionmigration_changelist")
        return [
            {
                "label": "Moved out of this session",
                "count": counts["out_of"],
                "url": f"{audit}?{urlencode({'old_session__id__exact': session.pk})}",
            },
            {
                "label": "Moved into this session",
                "count": counts["into"],
                "url": f"{audit}?{urlencode({'new_session__id__exact': session.pk})}",
            },
        ]

    # Actions -------------------------------------------------------------------------------

    def has_migrate_permission(self, request: HttpRequest) -> bool:
        codename = get_permission_codename("migrate", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    @admin.action(permissions=["migrate"], description="Move references to another session…")
    def move_references(self, request, queryset):
        sources = list(queryset.order_by("created_at"))
        if not sources:
            return self._nothing_selected(request)
        organization_ids = {source.organization_id for source in sources}
        if len(organization_ids) > 1:
            self.message_user(
                request,
                "The selected sessions belong to several organizations. References only move "
                "within one organization: select sessions of one organization at a time.",
                messages.ERROR,
            )
            return None
        organization = sources[0].organization
        targets = self.connected_sessions(request, organization).exclude(
            pk__in=[source.pk for source in sources]
        )
        if not targets.exists():
            self.message_user(
                request,
                f"{organization} has no other connected session to move the references to.",
                messages.ERROR,
            )
            return None

        target_changed = False
        if "target" in request.POST:
            form = MoveReferencesForm(request.POST, targets=targets)
            if form.is_valid():
                target = form.cleaned_data["target"]
                if request.POST.get("post") == "yes" and form.target_was_previewed:
                    self.move_each(request, sources, target, force=form.cleaned_data["force"])
                    return None
                target_changed = request.POST.get("post") == "yes"
                form = MoveReferencesForm(
                    targets=targets,
                    initial={
                        "target": target,
                        "force": form.cleaned_data["force"],
                        "previewed_target": target.pk,
                    },
                )
            else:
                # Not one of the offered targets (e.g. another organization's session): show
                # the form's error and preview nothing.
                target = None
        else:
            target = self.likely_target(sources, targets)
            form = MoveReferencesForm(
                targets=targets, initial={"target": target, "previewed_target": target.pk}
            )
        previews = (
            [self.preview_move(request, source, target) for source in sources]
            if target is not None
            else []
        )
        return self._render_confirmation(
            request,
            self.move_references_confirmation_template
            or self._confirmation_templates("move_references_confirmation"),
            title="Move references to another session",
            sources=sources,
            organization=organization,
            form=form,
            previews=previews,
            needs_force=any(preview.needs_force for preview in previews),
            target_changed=target_changed,
        )

    @admin.action(
        permissions=["migrate"],
        description="Adopt references from earlier sessions of this phone",
    )
    def adopt_references(self, request, queryset):
        sessions = list(queryset.order_by("created_at"))
        if not sessions:
            return self._nothing_selected(request)
        if request.POST.get("post") == "yes":
            for session in sessions:
                self.adopt_into(request, session)
            return None

        previews = [self.preview_adoption(request, session) for session in sessions]
        return self._render_confirmation(
            request,
            self.adopt_references_confirmation_template
            or self._confirmation_templates("adopt_references_confirmation"),
            title="Adopt references from earlier sessions of this phone",
            sources=sessions,
            previews=previews,
            anything_to_adopt=any(preview.results for preview in previews),
        )

    def connected_sessions(self, request, organization):
        return scope_to_user_organizations(
            WhatsAppSession.objects.filter(
                organization=organization, status=WhatsAppSession.Status.CONNECTED
            ).order_by("-connected_at", "-created_at"),
            self.organization_field,
            request.user,
        )

    @staticmethod
    def likely_target(sources, targets):
        """The newest connected session with the phone of the selected ones, else the newest."""
        candidates = list(targets)
        phones = {source.phone_number for source in sources}
        same_phone = [target for target in candidates if target.phone_number in phones]
        return (same_phone or candidates)[0]

    def preview_move(self, request, source, target) -> MovePreview:
        """A dry run; when refused, a forced dry run tells whether force would allow it."""
        try:
            result = migrate_session(
                source,
                target,
                trigger=SessionMigration.Trigger.ADMIN,
                actor=request.user,
                dry_run=True,
            )
        except SessionMigrationError as unforced:
            try:
                result = migrate_session(
                    source,
                    target,
                    trigger=SessionMigration.Trigger.ADMIN,
                    actor=request.user,
                    dry_run=True,
                    force=True,
                )
            except SessionMigrationError as refused:
                return MovePreview(source=source, refusal=str(refused))
            return MovePreview(source=source, counts=result.counts, needs_force=str(unforced))
        return MovePreview(source=source, counts=result.counts)

    def move_each(self, request, sources, target, *, force: bool) -> None:
        """One transaction per selected session: a refused one moves nothing, others go on."""
        for source in sources:
            try:
                result = migrate_session(
                    source,
                    target,
                    trigger=SessionMigration.Trigger.ADMIN,
                    actor=request.user,
                    force=force,
                )
            except SessionMigrationError as refusal:
                self.message_user(
                    request,
                    format_html("{} → {}: nothing moved. {}", source, target, str(refusal)),
                    messages.ERROR,
                )
                continue
            self.log_move(request, result)
            self.message_user(request, self.result_message(result), messages.SUCCESS)

    def preview_adoption(self, request, session) -> AdoptPreview:
        if session.status != WhatsAppSession.Status.CONNECTED:
            return AdoptPreview(session=session, refusal=NOT_CONNECTED_TO_ADOPT)
        try:
            results = adopt_predecessors(
                session, trigger=SessionMigration.Trigger.ADMIN, actor=request.user, dry_run=True
            )
        except SessionMigrationError as refusal:
            return AdoptPreview(session=session, refusal=str(refusal))
        return AdoptPreview(session=session, results=results)

    def adopt_into(self, request, session) -> None:
        if session.status != WhatsAppSession.Status.CONNECTED:
            self.message_user(
                request,
                format_html("{}: nothing adopted. {}", session, NOT_CONNECTED_TO_ADOPT),
                messages.ERROR,
            )
            return
        try:
            results = adopt_predecessors(
                session, trigger=SessionMigration.Trigger.ADMIN, actor=request.user
            )
        except SessionMigrationError as refusal:
            self.message_user(
                request,
                format_html("{}: nothing adopted. {}", session, str(refusal)),
                messages.ERROR,
            )
            return
        if not results:
            self.message_user(
                request,
                format_html("{}: no earlier disconnected session of this phone to adopt.", session),
                messages.INFO,
            )
        for result in results:
            self.log_move(request, result)
            self.message_user(request, self.result_message(result), messages.SUCCESS)

    def log_move(self, request, result: MigrationResult) -> None:
        """Note the move in both sessions' admin history, next to their other changes."""
        if result.migration is None:
            return
        summary = summarize_counts(result.counts)
        self.log_change(request, result.old, f"Moved its references to {result.new}: {summary}.")
        self.log_change(
            request, result.new, f"Took over the references of {result.old}: {summary}."
        )

    @staticmethod
    def result_message(result: MigrationResult) -> str:
        if result.migration is None:
            return format_html(
                "{} → {}: nothing pointed at it; nothing moved.", result.old, result.new
            )
        return format_html(
            "{} → {}: moved {} ({}).",
            result.old,
            result.new,
            summarize_counts(result.counts),
            admin_change_link(result.migration, "audit entry"),
        )

    def _nothing_selected(self, request):
        # A crafted POST naming rows the user cannot see lands here: answer as Django does when
        # nothing is selected, so the rows look as if they did not exist.
        self.message_user(
            request,
            "Items must be selected in order to perform actions on them. No items have been "
            "changed.",
            messages.WARNING,
        )
        return None

    def _render_confirmation(self, request, template, *, title, sources, **context):
        """An action's intermediate page, with the context of Django's delete_selected."""
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "count_labels": [label for _keys, label, _model in MIGRATION_COUNT_COLUMNS],
            "queryset": sources,
            "opts": self.opts,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
            **context,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, template, context)

    def _confirmation_templates(self, name: str) -> list[str]:
        app_label, model_name = self.opts.app_label, self.opts.model_name
        return [
            f"admin/{app_label}/{model_name}/{name}.html",
            f"admin/{app_label}/{name}.html",
            f"admin/{name}.html",
        ]


@admin.register(WhatsAppGroup)
class WhatsAppGroupAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    organization_field = "session__organization"
    list_display = ["name", "group_jid", "session", "is_active", "created_at"]
    list_filter = ["is_active", "session__organization"]
    search_fields = ["name", "group_jid"]
    list_select_related = ["session"]
    autocomplete_fields = ["session"]
    help_texts = {
        "session": "The session that is a member of this group and posts to it.",
        "name": "The group's name as shown in WhatsApp.",
    }


@admin.register(SessionMigration)
class SessionMigrationAdmin(UndoFromAuditMixin, OrganizationScopedAdmin, admin.ModelAdmin):
    """The audit: read-only and append-only for everyone, superusers included. An entry can be
    undone (which appends an entry of its own)."""

    list_display = [
        "when",
        "trigger",
        "actor_name",
        "organization",
        "old_to_new",
        "counts_summary",
    ]
    list_filter = ["trigger", "organization"]
    list_select_related = ["organization", "actor", "old_session", "new_session", "undone_by"]
    search_fields = ["old_session__phone_number", "new_session__phone_number", "id"]
    date_hierarchy = "created_at"
    fields = [
        "created_at",
        "organization",
        "trigger",
        "actor_name",
        "forced",
        "old_session_link",
        "new_session_link",
        "counts_summary",
        "undo_link",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="When", ordering="created_at")
    def when(self, migration):
        return short_datetime(migration.created_at)

    @admin.display(description="Who", ordering="actor__username")
    def actor_name(self, migration):
        # Plain text: staff reading the audit usually cannot open user pages.
        if migration.actor is None:
            return "-" if migration.trigger != SessionMigration.Trigger.AUTOMATIC else "(automatic)"
        return migration.actor.get_username()

    @admin.display(description="Old → new")
    def old_to_new(self, migration):
        return format_html(
            "{} → {}",
            admin_change_link(migration.old_session),
            admin_change_link(migration.new_session),
        )

    @admin.display(description="Old session")
    def old_session_link(self, migration):
        return admin_change_link(migration.old_session)

    @admin.display(description="New session")
    def new_session_link(self, migration):
        return admin_change_link(migration.new_session)

    @admin.display(description="What moved")
    def counts_summary(self, migration):
        summary = summarize_counts(migration.counts)
        undone_by = getattr(migration, "undone_by", None)
        if undone_by is not None:
            return format_html(
                "{} · undone by {}",
                summary,
                admin_change_link(undone_by, short_datetime(undone_by.created_at)),
            )
        return summary

    @admin.display(description="Undo")
    def undo_link(self, migration):
        if migration.undoes_id is not None:
            return format_html("Undoes {}", admin_change_link(migration.undoes))
        undone_by = getattr(migration, "undone_by", None)
        if undone_by is not None:
            who = undone_by.actor.get_username() if undone_by.actor else "-"
            return format_html(
                "Undone by {} ({}, {})",
                admin_change_link(undone_by),
                who,
                short_datetime(undone_by.created_at),
            )
        return "-"

    def get_queryset(self, request):
        # The moved ids run to tens of thousands: read a page of them when shown, never a list.
        return super().get_queryset(request).defer("moved_ids")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            pages = {}
            for key in count_keys():
                with contextlib.suppress(ValueError):
                    pages[key] = int(request.GET.get(f"moved_{key}", 1))
            context["moved_rows"] = moved_rows(obj, pages, admin_site=self.admin_site)
            context["left_rows"] = listed_rows(obj, obj.left_ids, admin_site=self.admin_site)
            context["can_undo"] = self.can_undo(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)


_ID_SLOT = "__id__"

# The audit page lists this many moved rows per table; `?moved_<key>=N` shows page N of one.
MOVED_ROWS_PER_PAGE = 100


def moved_rows(
    migration: SessionMigration, pages: dict[str, int] | None = None, *, admin_site
) -> list[dict]:
    """The rows a migration moved, per table, one page of each (`pages[key]`, from 1), each
    with a link: one query for the pages of ids, then one per table for its rows, of the
    migration's organization only."""
    pages = pages or {}
    tables = []
    moved = moved_id_pages(
        migration,
        {key: (max(pages.get(key, 1), 1) - 1) * MOVED_ROWS_PER_PAGE for key in count_keys()},
        MOVED_ROWS_PER_PAGE,
    )
    for key, label, model in _columns_per_key():
        total, ids = moved.get(key, (0, []))
        if not total:
            continue
        found = _of_organization(admin_site, model, migration.organization_id).in_bulk(ids)
        found = {str(pk): row for pk, row in found.items()}
        # One reverse() per table, not per row: a page lists hundreds of rows.
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[_ID_SLOT])
        rows = []
        for row_id in ids:
            row = found.get(str(row_id))
            link = None
            if row is not None:
                link = format_html('<a href="{}">{}</a>', url.replace(_ID_SLOT, str(row.pk)), row)
            rows.append({"id": row_id, "link": link})
        page = max(pages.get(key, 1), 1)
        tables.append(
            {
                "key": key,
                "label": label,
                "total": total,
                "rows": rows,
                "first": (page - 1) * MOVED_ROWS_PER_PAGE + 1,
                "last": (page - 1) * MOVED_ROWS_PER_PAGE + len(rows),
                "previous_page": page - 1 if page > 1 else None,
                "next_page": page + 1 if page * MOVED_ROWS_PER_PAGE < total else None,
                "parameter": f"moved_{key}",
            }
        )
    return tables


def _columns_per_key():
    """(count key, label, model) for every key, the pending messages' two keys told apart."""
    for keys, label, model in MIGRATION_COUNT_COLUMNS:
        for key in keys:
            yield key, f"{label} ({HOW_MESSAGES_MOVED[key]})" if len(keys) > 1 else label, model


def listed_rows(migration: SessionMigration, ids_of: dict, *, admin_site) -> list[dict]:
    """The rows named in `ids_of` (keyed like a migration's counts; ids, or {"id", "reason"}),
    per table, each with a link. Only rows of the migration's organization are read: one query
    per table."""
    tables = []
    for keys, label, model in MIGRATION_COUNT_COLUMNS:
        listed = [(key, entry) for key in keys for entry in (ids_of or {}).get(key) or []]
        if not listed:
            continue
        found = {
            str(row.pk): row
            for row in _of_organization(admin_site, model, migration.organization_id).filter(
                pk__in=[_entry_id(entry) for _key, entry in listed]
            )
        }
        rows = []
        for key, entry in listed:
            row = found.get(_entry_id(entry))
            rows.append(
                {
                    "id": _entry_id(entry),
                    "link": admin_change_link(row) if row is not None else None,
                    "how": HOW_MESSAGES_MOVED.get(key, "") if len(keys) > 1 else "",
                    "reason": entry.get("reason", "") if isinstance(entry, dict) else "",
                }
            )
        tables.append({"key": keys[0], "label": label, "rows": rows})
    return tables


def _entry_id(entry) -> str:
    return str(entry["id"] if isinstance(entry, dict) else entry)


def _of_organization(admin_site, model, organization_id):
    """`model`'s rows of one organization, by the path its admin scopes staff with."""
    path = admin_site._registry[model].organization_field
    return model._default_manager.filter(**{path: organization_id})
