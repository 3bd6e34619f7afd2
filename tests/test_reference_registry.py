"""A new referencing table is one declaration: its app's `references.py` says what a migration
does to it, and every view of a session's references shows it with no other edit.

The table is `tests.testapp`'s surveys (an app installed by the test settings, with its own
migration and admin). Its `references.py` keeps them as history; here it declares open surveys
a `Move`, as a real app would.
"""

from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from sessions_app.models import SessionMigration
from sessions_app.references import Move, Reference
from tests.admin_scenarios import reconnected_phone, staff_member
from tests.testapp import references as testapp_references
from tests.testapp.models import Survey

pytestmark = pytest.mark.django_db

SESSIONS = reverse("admin:sessions_app_whatsappsession_changelist")
LABEL = "Open surveys"


@pytest.fixture
def surveys_declared(redeclare):
    redeclare(
        testapp_references,
        [Reference("testapp.Survey.session", Move("surveys", LABEL, where={"status": "open"}))],
    )


@pytest.fixture
def scene():
    """A phone that reconnected, two open surveys and a closed one still on its old session."""
    scene = reconnected_phone()
    scene.surveys = [
        Survey.objects.create(
            organization=scene.organization, title=f"Survey {n}", session=scene.old
        )
        for n in range(2)
    ]
    scene.closed_survey = Survey.objects.create(
        organization=scene.organization,
        title="Closed survey",
        status=Survey.Status.CLOSED,
        session=scene.old,
    )
    return scene


@pytest.fixture
def staff_client(client, scene):
    user = staff_member(scene.organization)
    user.user_permissions.add(*Permission.objects.filter(codename="view_survey"))
    client.force_login(user)
    return client


def move(client, scene, **extra):
    data = {"action": "move_references", "_selected_action": [str(scene.old.pk)], **extra}
    return client.post(SESSIONS, data)


def test_kept_as_history_the_surveys_appear_nowhere(staff_client, scene):
    page = staff_client.get(
        reverse("admin:sessions_app_whatsappsession_change", args=[scene.old.pk])
    )
    assert LABEL not in [row["label"] for row in page.context["references"]]
    assert LABEL not in move(staff_client, scene).context["count_labels"]


@pytest.mark.usefixtures("surveys_declared")
def test_one_declaration_shows_the_table_in_every_view(staff_client, scene):
    # The session's page: the panel counts the open surveys and links to exactly those.
    page = staff_client.get(
        reverse("admin:sessions_app_whatsappsession_change", args=[scene.old.pk])
    )
    [row] = [row for row in page.context["references"] if row["label"] == LABEL]
    assert row["count"] == 2
    listed = staff_client.get(row["url"]).context["cl"].result_list
    assert set(listed) == set(scene.surveys)

    # The sessions list adds them to "Rows pointing here".
    rows = {s.pk: s for s in staff_client.get(SESSIONS).context["cl"].result_list}
    assert rows[scene.old.pk].reference_count == sum(
        row["count"] for row in page.context["references"]
    )

    # The move's preview has a column for them.
    preview = move(staff_client, scene)
    column = preview.context["count_labels"].index(LABEL)
    [session_preview] = preview.context["previews"]
    assert session_preview.count_list[column] == 2
    assert f"<span>{LABEL}</span>" in preview.content.decode()

    # The move takes them, and says so.
    done = move(
        staff_client,
        scene,
        target=str(scene.new.pk),
        previewed_target=str(scene.new.pk),
        post="yes",
    )
    assert done.status_code == HTTPStatus.FOUND
    [note] = [str(m) for m in get_messages(done.wsgi_request)]
    assert f"{LABEL}: 2" in note
    assert set(Survey.objects.filter(session=scene.new)) == set(scene.surveys)
    assert Survey.objects.get(pk=scene.closed_survey.pk).session == scene.old

    # The audit: its list sums them up, its page lists each one with a link.
    migration = SessionMigration.objects.get()
    assert migration.counts["surveys"] == 2
    audit_list = staff_client.get(reverse("admin:sessions_app_sessionmigration_changelist"))
    assert f"{LABEL}: 2" in audit_list.content.decode()
    audit = staff_client.get(
        reverse("admin:sessions_app_sessionmigration_change", args=[migration.pk])
    )
    [table] = [table for table in audit.context["moved_rows"] if table["key"] == "surveys"]
    assert (table["label"], table["total"]) == (LABEL, 2)
    for survey in scene.surveys:
        change_url = reverse("admin:testapp_survey_change", args=[survey.pk])
        assert f'<a href="{change_url}">{survey.title}</a>' in audit.content.decode()

    # The undo's preview lists them going back, and the undo takes them back.
    undo_url = reverse("admin:sessions_app_sessionmigration_undo", args=[migration.pk])
    undo_preview = staff_client.get(undo_url)
    [back] = [table for table in undo_preview.context["back_rows"] if table["key"] == "surveys"]
    assert (back["label"], len(back["rows"])) == (LABEL, 2)
    staff_client.post(undo_url, {"post": "yes"})
    assert Survey.objects.filter(session=scene.old).count() == 3
