"""Pairing a phone and logging a session out, from the admin.

`SessionPairingAdmin` adds to the sessions admin "Pair this phone again" (on a disconnected
session's page and as a list action for one session), the pairing page with its small JSON,
QR and code endpoints, and "Log out this session"; `OrganizationPairingAdmin` adds "Pair a new
phone" to an organization's page. Every view answers another organization's row as if it did
not exist, and only `sessions_app.services.pairing` talks to the gateway.

The pairing page knows nothing of any gateway: the backend says how often its QR code renews
(`qr_refresh_seconds`) and whether it can pretend a scan (`can_simulate_scan`).
"""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sessions_app.admin.counts import summarize_counts
from sessions_app.admin_tenancy import scope_to_user_organizations
from sessions_app.gateway import get_gateway
from sessions_app.models import Organization, WhatsAppSession
from sessions_app.services.pairing import (
    PairingProgress,
    SessionLifecycleError,
    pair_again_refusal,
    pairing_progress,
    pairing_qr,
    pairing_request_code,
    pairing_simulate_scan,
    pairing_start,
    session_logout,
)

POLL_MILLISECONDS = 2000
SESSION_URL = "admin:sessions_app_whatsappsession_{}"


def session_url(name: str, session: WhatsAppSession, *, predecessor=None) -> str:
    url = reverse(SESSION_URL.format(name), args=[quote(session.pk)])
    return f"{url}?{urlencode({'predecessor': predecessor.pk})}" if predecessor else url


class SessionPairingAdmin:
    """Mix into the WhatsAppSession ModelAdmin, before `admin.ModelAdmin`."""

    pairing_template = "admin/sessions_app/whatsappsession/pairing.html"
    pair_confirmation_template = "admin/sessions_app/pair_confirmation.html"
    logout_confirmation_template = "admin/sessions_app/whatsappsession/logout_confirmation.html"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        views = [
            ("pair/", self.pair_again_view, "pair"),
            ("pairing/", self.pairing_view, "pairing"),
            ("pairing/status/", self.pairing_status_view, "pairing_status"),
            ("pairing/qr/", self.pairing_qr_view, "pairing_qr"),
            ("pairing/code/", self.pairing_code_view, "pairing_code"),
            ("pairing/simulate-scan/", self.pairing_simulate_scan_view, "pairing_simulate_scan"),
            ("logout/", self.logout_view, "logout"),
        ]
        own = [
            path(f"<path:object_id>/{route}", wrap(view), name=f"{prefix}_{name}")
            for route, view, name in views
        ]
        return own + super().get_urls()

    # Lookups: another organization's row is a row that does not exist ----------------------

    def scoped_session(self, request: HttpRequest, object_id: str) -> WhatsAppSession:
        sessions = scope_to_user_organizations(
            WhatsAppSession.objects.select_related("organization"),
            self.organization_field,
            request.user,
        )
        try:
            return sessions.get(pk=unquote(object_id))
        except (WhatsAppSession.DoesNotExist, ValidationError) as exc:
            raise Http404(gettext("No such WhatsApp session.")) from exc

    def pairing_session(self, request: HttpRequest, object_id: str):
        """The session being paired and the one it replaces (from `?predecessor=`), if any."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        session = self.scoped_session(request, object_id)
        predecessor_id = request.GET.get("predecessor")
        predecessor = None
        if predecessor_id:
            predecessor = self.scoped_session(request, predecessor_id)
            if predecessor.organization_id != session.organization_id:
                raise Http404(gettext("No such WhatsApp session."))
        return session, predecessor

    # Pair this phone again ------------------------------------------------------------------

    @admin.action(permissions=["add"], description=_("Pair this phone again"))
    def pair_again(self, request, queryset):
        sessions = list(queryset.order_by("created_at")[:2])
        if len(sessions) != 1:
            self.message_user(
                request,
                gettext("Select exactly one session to pair its phone again."),
                messages.WARNING,
            )
            return None
        return redirect(session_url("pair", sessions[0]))

    @method_decorator(require_http_methods(["GET", "POST"]))
    def pair_again_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        predecessor = self.scoped_session(request, object_id)
        return pairing_start_response(
            self,
            request,
            organization=predecessor.organization,
            predecessor=predecessor,
            back_url=session_url("change", predecessor),
        )

    # The pairing page -----------------------------------------------------------------------

    @method_decorator(require_GET)
    def pairing_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        session, predecessor = self.pairing_session(request, object_id)
        gateway = get_gateway()
        try:
            context = {
                **self.admin_site.each_context(request),
                "title": gettext("Pair a phone"),
                "subtitle": None,
                "opts": self.opts,
                "session": session,
                "predecessor": predecessor,
                "organization": session.organization,
                "gateway_name": session.gateway_name(gateway.session_key),
                "qr_refresh_seconds": gateway.qr_refresh_seconds,
                "can_simulate_scan": gateway.can_simulate_scan,
                "can_request_pairing_code": gateway.can_request_pairing_code,
                "poll_milliseconds": POLL_MILLISECONDS,
                "status_url": session_url("pairing_status", session, predecessor=predecessor),
                "qr_url": session_url("pairing_qr", session),
                "code_url": session_url("pairing_code", session),
                "simulate_url": session_url(
                    "pairing_simulate_scan", session, predecessor=predecessor
                ),
                "phone_number": predecessor.phone_number if predecessor else "",
                "can_force_move": predecessor is not None and self.has_migrate_permission(request),
            }
        finally:
            gateway.close()
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.pairing_template, context)

    @method_decorator(require_GET)
    def pairing_status_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        session, predecessor = self.pairing_session(request, object_id)
        progress = pairing_progress(session=session, predecessor=predecessor)
        return JsonResponse(progress_json(progress))

    @method_decorator(require_GET)
    def pairing_qr_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        session, _predecessor = self.pairing_session(request, object_id)
        try:
            png = pairing_qr(session=session)
        except SessionLifecycleError as exc:
            return HttpResponse(
                str(exc), status=HTTPStatus.BAD_GATEWAY, content_type="text/plain; charset=utf-8"
            )
        return HttpResponse(png, content_type="image/png")

    @method_decorator(require_POST)
    def pairing_code_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        session, _predecessor = self.pairing_session(request, object_id)
        try:
            code = pairing_request_code(
                session=session, phone_number=request.POST.get("phone_number", "")
            )
        except SessionLifecycleError as exc:
            return JsonResponse({"error": str(exc)}, status=HTTPStatus.BAD_GATEWAY)
        return JsonResponse({"code": code})

    @method_decorator(require_POST)
    def pairing_simulate_scan_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        session, predecessor = self.pairing_session(request, object_id)
        try:
            pairing_simulate_scan(
                session=session, phone_number=request.POST.get("phone_number", "")
            )
        except SessionLifecycleError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        return redirect(session_url("pairing", session, predecessor=predecessor))

    # Log out this session -------------------------------------------------------------------

    @method_decorator(require_http_methods(["GET", "POST"]))
    def logout_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        session = self.scoped_session(request, object_id)
        if not self.has_change_permission(request, session):
            raise PermissionDenied
        if request.method == "POST" and request.POST.get("post") == "yes":
            try:
                session_logout(session=session)
            except SessionLifecycleError as exc:
                self.message_user(
                    request,
                    gettext("%(session)s: not logged out. %(refusal)s")
                    % {"session": session, "refusal": exc},
                    messages.ERROR,
                )
            else:
                self.log_change(request, session, gettext("Logged out on the gateway."))
                self.message_user(
                    request,
                    gettext("%(session)s: logged out on the gateway.") % {"session": session},
                    messages.SUCCESS,
                )
            return redirect(session_url("change", session))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Log out this session"),
            "subtitle": None,
            "opts": self.opts,
            "session": session,
            "gateway_name": session.gateway_session_name,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.logout_confirmation_template, context)

    # The session's page ---------------------------------------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["can_pair_again"] = (
                obj.status == WhatsAppSession.Status.DISCONNECTED
                and obj.superseded_by_id is None
                and self.has_add_permission(request)
            )
            context["can_open_pairing"] = (
                obj.status == WhatsAppSession.Status.CONNECTING and self.has_add_permission(request)
            )
            context["can_log_out"] = obj.superseded_by_id is None and self.has_change_permission(
                request, obj
            )
        return super().render_change_form(request, context, add, change, form_url, obj)


class OrganizationPairingAdmin:
    """Mix into the Organization ModelAdmin, before `admin.ModelAdmin`: "Pair a new phone"."""

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_pair"
        own = [
            path("<path:object_id>/pair/", self.admin_site.admin_view(self.pair_view), name=name)
        ]
        return own + super().get_urls()

    def session_admin(self):
        return self.admin_site.get_model_admin(WhatsAppSession)

    @method_decorator(require_http_methods(["GET", "POST"]))
    def pair_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        session_admin = self.session_admin()
        if not session_admin.has_add_permission(request):
            raise PermissionDenied
        organizations = scope_to_user_organizations(Organization.objects.all(), "pk", request.user)
        try:
            organization = organizations.get(pk=unquote(object_id))
        except (Organization.DoesNotExist, ValidationError) as exc:
            # Unknown, another organization's or malformed: all answered the same.
            raise Http404(gettext("No such organization.")) from exc
        back_url = reverse("admin:sessions_app_organization_change", args=[quote(organization.pk)])
        return pairing_start_response(
            session_admin, request, organization=organization, predecessor=None, back_url=back_url
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["can_pair_new_phone"] = self.session_admin().has_add_permission(request)
        return super().render_change_form(request, context, add, change, form_url, obj)


def pairing_start_response(
    session_admin,
    request: HttpRequest,
    *,
    organization: Organization,
    predecessor: WhatsAppSession | None,
    back_url: str,
) -> HttpResponse:
    """GET: what pairing will do, with a button. POST: start it and open the pairing page, or
    go back with the reason it failed (and no new session)."""
    if request.method == "POST":
        try:
            session = pairing_start(organization=organization, predecessor=predecessor)
        except SessionLifecycleError as exc:
            session_admin.message_user(
                request,
                gettext("Nothing was paired. %(refusal)s") % {"refusal": exc},
                messages.ERROR,
            )
            return redirect(back_url)
        session_admin.log_addition(
            request,
            session,
            gettext("Started pairing on the gateway as %(name)s.")
            % {"name": session.gateway_session_name},
        )
        return redirect(session_url("pairing", session, predecessor=predecessor))
    context = {
        **session_admin.admin_site.each_context(request),
        "title": gettext("Pair this phone again") if predecessor else gettext("Pair a new phone"),
        "subtitle": None,
        "opts": session_admin.opts,
        "organization": organization,
        "predecessor": predecessor,
        "refusal": predecessor and pair_again_refusal(predecessor, organization=organization),
        "back_url": back_url,
    }
    request.current_app = session_admin.admin_site.name
    return TemplateResponse(request, session_admin.pair_confirmation_template, context)


def progress_json(progress: PairingProgress) -> dict:
    """What the pairing page's script shows, for one poll."""
    session = progress.session
    return {
        "status": session.status,
        "status_label": session.get_status_display(),
        "phone_number": session.phone_number,
        "outcome": progress.outcome,
        "message": progress_message(progress),
        "migrations": [
            {
                "url": reverse(
                    "admin:sessions_app_sessionmigration_change", args=[quote(migration.pk)]
                ),
                "summary": summarize_counts(migration.counts),
                "source": gettext("from session %(id)s")
                % {"id": str(migration.old_session_id)[:8]},
            }
            for migration in progress.migrations
        ],
    }


def progress_message(progress: PairingProgress) -> str:
    session, predecessor = progress.session, progress.predecessor
    if progress.outcome == "waiting":
        return gettext("Waiting for the phone to link with this session.")
    if progress.outcome == "disconnected":
        return gettext(
            "The gateway reports this session disconnected (the QR codes expired or the phone "
            "logged out); nothing moved. Start pairing again."
        )
    if progress.outcome == "other_phone":
        return gettext(
            "The phone that scanned is %(phone)s, not %(expected)s of the session it replaces. "
            "Nothing moved, since the phones differ."
        ) % {
            "phone": session.phone_number,
            "expected": predecessor.phone_number or gettext("no phone"),
        }
    if progress.migrations:
        return gettext(
            "Connected as %(phone)s. Everything that pointed at the earlier session now points "
            "at the new session."
        ) % {"phone": session.phone_number}
    return gettext(
        "Connected as %(phone)s. Nothing pointed at an earlier session of this phone, so "
        "nothing had to move: everything now points at the new session."
    ) % {"phone": session.phone_number}
