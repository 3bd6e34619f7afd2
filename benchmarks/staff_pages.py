"""The staff pages on the scale data set, in-process: median server time and SQL queries.

Each page is asked for by a superuser and by a staff member of organization 1 (the large
customer), through Django's test client: the whole request, middleware and templates included.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

ROUNDS = 5
TARGET_MS = 150

# A phone found at any scale from a tenth up: organization 150's disconnected phone (the
# superuser's), and a connected phone of organization 1 (its staff member's).
SUPERUSER_PHONE = ("+5511900001049", "+55 11 90000-1049")
STAFF_PHONE = ("+5511900000002", "55 (11) 90000-0002")


@dataclass(frozen=True)
class PageFigure:
    user: str
    page: str
    median_ms: float
    queries: int
    status: int


def staff_users():
    """A superuser and a staff member of organization 1 who may view everything and move."""
    from django.contrib.auth.models import Permission, User

    from benchmarks.scale_data import organization_id
    from sessions_app.models import OrganizationMembership

    superuser = User.objects.create_superuser("bench-admin", password=None)
    staff = User.objects.create_user("bench-staff", password=None, is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["sessions_app", "scheduling"])
    )
    OrganizationMembership.objects.create(user=staff, organization_id=organization_id(1))
    return {"superuser": superuser, "staff": staff}


def _pages(user_kind: str) -> list[tuple[str, str]]:
    """(label, url) of every page measured for `user_kind`."""
    from django.db.models import TextField
    from django.db.models.functions import Cast, Length
    from django.urls import reverse

    from benchmarks.scale_data import organization_id, session_id
    from sessions_app.models import SessionMigration, WhatsAppSession

    sessions = reverse("admin:sessions_app_whatsappsession_changelist")
    phones = SUPERUSER_PHONE if user_kind == "superuser" else STAFF_PHONE
    migrations = SessionMigration.objects.all()
    if user_kind == "staff":
        migrations = migrations.filter(organization_id=organization_id(1))
    largest = (
        migrations.annotate(size=Length(Cast("moved_ids", TextField())))
        .order_by("-size")
        .values_list("pk", flat=True)
        .first()
    )
    pages = [
        ("sessions list", sessions),
        *[(f"sessions searched {phone!r}", f"{sessions}?{_q(phone)}") for phone in phones],
        ("sessions status=disconnected", f"{sessions}?status__exact=disconnected"),
    ]
    pages += [(f"sessions sorted by {name}", f"{sessions}?o={o}") for name, o in _sortable()]
    pages += [
        (
            "session page (org 1, main phone)",
            reverse("admin:sessions_app_whatsappsession_change", args=[session_id(1, 2)]),
        ),
        ("migrations list", reverse("admin:sessions_app_sessionmigration_changelist")),
        (
            "largest migration's page",
            reverse("admin:sessions_app_sessionmigration_change", args=[largest]),
        ),
        (
            "messages status=pending",
            reverse("admin:scheduling_scheduledwhatsappmessage_changelist")
            + "?status__exact=pending",
        ),
        ("needs attention", reverse("admin:scheduling_attention")),
    ]
    main_phone = WhatsAppSession.objects.get(pk=session_id(1, 2))
    pages.append(
        (
            "phone timeline (org 1, main phone)",
            reverse(
                "admin:sessions_app_whatsappsession_timeline",
                args=[main_phone.organization_id, main_phone.phone_number],
            ),
        )
    )
    return pages


def _q(term: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"q": term})


def _sortable() -> list[tuple[str, str]]:
    """(column, `o` value) for every column of the sessions list staff can sort, both ways."""
    from django.contrib import admin
    from django.test import RequestFactory

    from sessions_app.models import WhatsAppSession

    model_admin = admin.site._registry[WhatsAppSession]
    request = RequestFactory().get("/")
    request.user = _any_superuser()
    changelist = model_admin.get_changelist_instance(request)
    columns = []
    for index, column in enumerate(changelist.list_display):
        if changelist.get_ordering_field(column) is not None:
            name = getattr(column, "__name__", column)
            columns += [(name, str(index)), (f"{name} desc", f"-{index}")]
    return columns


def _any_superuser():
    from django.contrib.auth.models import User

    return User.objects.filter(is_superuser=True).first()


def measure_pages(users) -> list[PageFigure]:
    """Every page for every user: the median of ROUNDS timed requests after one warm-up."""
    from django.db import connection
    from django.test import Client

    figures = []
    for user_kind, user in users.items():
        client = Client()
        client.force_login(user)
        for label, url in _pages(user_kind):
            response = client.get(url)  # warm-up: caches, template loading
            statements = 0

            def count(execute, sql, params, many, context):
                nonlocal statements
                statements += 1
                return execute(sql, params, many, context)

            with connection.execute_wrapper(count):
                response = client.get(url)
            times = []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                client.get(url)
                times.append(time.perf_counter() - started)
            figures.append(
                PageFigure(
                    user=user_kind,
                    page=label,
                    median_ms=statistics.median(times) * 1000,
                    queries=statements,
                    status=response.status_code,
                )
            )
    return figures


def print_pages(full: list[PageFigure], tenth: list[PageFigure]) -> None:
    """One line per page: time and queries at full size, queries at a tenth, targets beside."""
    tenth_queries = {(f.user, f.page): f.queries for f in tenth}
    print(
        f"  {'user':<9} {'page':<44} {'median':>9} {'target':>8}  {'queries':>7} "
        f"{'at 1/10':>7}  check"
    )
    for figure in full:
        small = tenth_queries.get((figure.user, figure.page))
        problems = []
        if figure.median_ms > TARGET_MS:
            problems.append("SLOW")
        if small != figure.queries:
            problems.append("QUERIES DIFFER")
        if figure.status != 200:
            problems.append(f"HTTP {figure.status}")
        print(
            f"  {figure.user:<9} {figure.page[:44]:<44} {figure.median_ms:7.1f}ms "
            f"{'<= ' + str(TARGET_MS):>8}  {figure.queries:7d} "
            f"{small if small is not None else '-':>7}"
            f"  {', '.join(problems) or 'ok'}",
            flush=True,
        )
