"""The actions that move references: to a chosen session, or adopted by a reconnected one.

Both run a dry run of `sessions_app.services.migration` for their preview and the same call for
real when the confirmation is posted back with `post=yes`, as Django's delete_selected does.
"""

from dataclasses import dataclass, field

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_permission_codename
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from sessions_app.admin.counts import count_labels, count_list, summarize_counts
from sessions_app.admin.display import admin_change_link, templates_for
from sessions_app.forms import MoveReferencesForm
from sessions_app.models import SessionMigration, WhatsAppSession
from sessions_app.services.migration import (
    MigrationResult,
    SessionMigrationError,
    adopt_predecessors,
    migrate_session,
)

NOT_CONNECTED_TO_ADOPT = _("Not connected: only a connected session adopts earlier ones.")


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


class MoveReferencesActions:
    """Mix into the WhatsAppSession ModelAdmin, before `admin.ModelAdmin`: the two actions that
    move references, behind the `migrate` permission."""

    move_references_confirmation_template = None
    adopt_references_confirmation_template = None

    def has_migrate_permission(self, request: HttpRequest) -> bool:
        codename = get_permission_codename("migrate", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    @admin.action(permissions=["migrate"], description=_("Move references to another session…"))
    def move_references(self, request, queryset):
        sources = list(queryset.order_by("created_at"))
        if not sources:
            return self._nothing_selected(request)
        organization_ids = {source.organization_id for source in sources}
        if len(organization_ids) > 1:
            self.message_user(
                request,
                gettext(
                    "The selected sessions belong to several organizations. References only move "
                    "within one organization: select sessions of one organization at a time."
                ),
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
                gettext(
                    "%(organization)s has no other connected session to move the references to."
                )
                % {"organization": organization},
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
            title=gettext("Move references to another session"),
            sources=sources,
            organization=organization,
            form=form,
            previews=previews,
            needs_force=any(preview.needs_force for preview in previews),
            nothing_to_confirm=self.nothing_to_confirm(previews, force=form.initial.get("force")),
            target_changed=target_changed,
        )

    @staticmethod
    def nothing_to_confirm(previews: list[MovePreview], *, force: bool) -> str:
        """Why confirming would move nothing at all, or "" when some session would move."""
        if not previews or any(not p.refusal and (force or not p.needs_force) for p in previews):
            return ""
        if all(preview.refusal for preview in previews):
            return gettext("Every selected session is refused: nothing would move.")
        return gettext(
            "Every selected session that could move needs “Force”: tick it and update the "
            "preview to move them, or go back."
        )

    @admin.action(
        permissions=["migrate"],
        description=_("Adopt references from earlier sessions of this phone"),
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
            title=gettext("Adopt references from earlier sessions of this phone"),
            sources=sessions,
            previews=previews,
            anything_to_adopt=any(preview.results for preview in previews),
        )

    def connected_sessions(self, request, organization):
        # `organization` is the selected sessions', which the action's queryset scoped already.
        return WhatsAppSession.objects.filter(
            organization=organization, status=WhatsAppSession.Status.CONNECTED
        ).order_by("-connected_at", "-created_at")

    @staticmethod
    def likely_target(sources, targets):
        """The newest connected session with the phone of the selected ones, else the newest."""
        candidates = list(targets)
        phones = {source.phone_number for source in sources}
        same_phone = [target for target in candidates if target.phone_number in phones]
        return (same_phone or candidates)[0]

    def preview_move(self, request, source, target) -> MovePreview:
        """A dry run; when refused, a forced dry run tells whether force would allow it."""

        def dry_run(*, force: bool) -> MigrationResult:
            return migrate_session(
                source,
                target,
                trigger=SessionMigration.Trigger.ADMIN,
                actor=request.user,
                dry_run=True,
                force=force,
            )

        try:
            result = dry_run(force=False)
        except SessionMigrationError as unforced:
            try:
                result = dry_run(force=True)
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
                    format_html(
                        gettext("{old} → {new}: nothing moved. {refusal}"),
                        old=source,
                        new=target,
                        refusal=str(refusal),
                    ),
                    messages.ERROR,
                )
                continue
            self.log_move(request, result)
            self.message_user(request, self.result_message(result), self.result_level(result))

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
                format_html(
                    gettext("{session}: nothing adopted. {refusal}"),
                    session=session,
                    refusal=NOT_CONNECTED_TO_ADOPT,
                ),
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
                format_html(
                    gettext("{session}: nothing adopted. {refusal}"),
                    session=session,
                    refusal=str(refusal),
                ),
                messages.ERROR,
            )
            return
        if not results:
            self.message_user(
                request,
                format_html(
                    gettext("{session}: no earlier disconnected session of this phone to adopt."),
                    session=session,
                ),
                messages.WARNING,
            )
        for result in results:
            self.log_move(request, result)
            self.message_user(request, self.result_message(result), self.result_level(result))

    def log_move(self, request, result: MigrationResult) -> None:
        """Note the move in both sessions' admin history, next to their other changes."""
        if result.migration is None:
            return
        summary = summarize_counts(result.counts)
        self.log_change(
            request,
            result.old,
            gettext("Moved its references to %(new)s: %(summary)s.")
            % {"new": result.new, "summary": summary},
        )
        self.log_change(
            request,
            result.new,
            gettext("Took over the references of %(old)s: %(summary)s.")
            % {"old": result.old, "summary": summary},
        )

    @staticmethod
    def result_message(result: MigrationResult) -> str:
        if result.migration is None:
            return format_html(
                gettext("{old} → {new}: nothing pointed at it; nothing moved."),
                old=result.old,
                new=result.new,
            )
        return format_html(
            gettext("{old} → {new}: moved {summary} ({audit})."),
            old=result.old,
            new=result.new,
            summary=summarize_counts(result.counts),
            audit=admin_change_link(result.migration, gettext("audit entry")),
        )

    @staticmethod
    def result_level(result: MigrationResult) -> int:
        """Success when something moved; a warning when nothing did."""
        return messages.SUCCESS if result.migration is not None else messages.WARNING

    def _nothing_selected(self, request):
        # A crafted POST naming rows the user cannot see lands here: answer as Django does when
        # nothing is selected, so the rows look as if they did not exist.
        self.message_user(
            request,
            # Django's own words, in Django's own translation.
            gettext(
                "Items must be selected in order to perform actions on them. No items have been "
                "changed."
            ),
            messages.WARNING,
        )
        return None

    def _render_confirmation(self, request, template, *, title, sources, **context):
        """An action's intermediate page, with the context of Django's delete_selected."""
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "count_labels": count_labels(),
            "queryset": sources,
            "opts": self.opts,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
            **context,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, template, context)

    def _confirmation_templates(self, name: str) -> list[str]:
        return templates_for(self.opts, name)
