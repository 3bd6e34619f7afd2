"""Portuguese and English: the catalog covers every marked string, the admin follows the
browser's language, and every date and time is shown one way, in the staff's zone."""

import datetime as dt
import io
import os
import re
import shutil
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from scheduling.models import ScheduledWhatsAppMessage
from sessions_app.models import SessionMigration, WhatsAppSession
from sessions_app.services.groups import GroupSyncResult, VanishedGroup
from sessions_app.services.migration import SessionMigrationError, migrate_session
from tests.factories import ScheduledWhatsAppMessageFactory, WhatsAppSessionFactory

REPO = Path(__file__).resolve().parent.parent
CATALOG = REPO / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po"
COMPILED = CATALOG.with_suffix(".mo")
MESSAGES = "admin:scheduling_scheduledwhatsappmessage_changelist"
# What `make messages` reads; the rest of the tree is not needed to extract the strings.
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "docs",
    "tests",
    "benchmarks",
    "staticfiles",
    "build",
    "*.egg-info",
    "*.sqlite3",
    "*.mo",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
)


def gettext_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is missing: GNU gettext is needed (`make test` installs it).")
    return path


def entries(po_file: Path, flag: str) -> list[str]:
    """The msgids of `po_file`'s entries selected by `msgattrib`'s `flag`."""
    listed = subprocess.run(
        [gettext_tool("msgattrib"), flag, "--no-wrap", "--no-location", str(po_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [m for m in re.findall(r'^msgid "(.*)"$', listed, re.M) if m]


class TestCatalog:
    def test_the_catalog_compiles_and_its_placeholders_match(self, tmp_path):
        result = subprocess.run(
            [gettext_tool("msgfmt"), "--check", "-o", str(tmp_path / "django.mo"), str(CATALOG)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr

    def test_every_marked_string_has_a_portuguese_translation(self, tmp_path):
        """`make messages` on a copy of the tree adds no string the catalog lacks, and every
        string it holds is translated and not fuzzy."""
        tree = tmp_path / "tree"
        shutil.copytree(REPO, tree, ignore=NOT_SOURCE)
        refreshed = subprocess.run(
            ["scripts/update-messages.sh"],
            cwd=tree,
            env={**os.environ, "PYTHON": sys.executable},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert refreshed.returncode == 0, refreshed.stderr
        catalog = tree / CATALOG.relative_to(REPO)

        assert entries(catalog, "--untranslated") == [], "untranslated: run `make messages`"
        assert entries(catalog, "--only-fuzzy") == [], "fuzzy: check and unmark these"

    def test_the_compiled_catalog_is_current(self):
        """`make run` and `make test` compile it; a stale one would serve older translations."""
        assert COMPILED.is_file(), "run `make translations` (make run and make test do)"
        assert COMPILED.stat().st_mtime >= CATALOG.stat().st_mtime, "run `make translations`"


@pytest.mark.django_db
class TestLanguage:
    def test_a_browser_in_portuguese_gets_the_admin_in_portuguese(self, admin_client):
        response = admin_client.get(reverse(MESSAGES), HTTP_ACCEPT_LANGUAGE="pt-BR,pt;q=0.9")

        assert response.status_code == HTTPStatus.OK
        page = response.content.decode()
        assert '<html lang="pt-br"' in page
        assert "Mensagens agendadas do WhatsApp" in page  # ours
        assert "Agendamento" in page  # the app's name, ours too
        assert "Encerrar sessão" in page  # Django's own
        assert "Scheduled WhatsApp messages" not in page

    def test_english_without_a_preference_or_for_a_language_we_lack(self, admin_client):
        for accept in ({}, {"HTTP_ACCEPT_LANGUAGE": "de-DE,de;q=0.9"}):
            page = admin_client.get(reverse(MESSAGES), **accept).content.decode()
            assert '<html lang="en"' in page
            assert "Scheduled WhatsApp messages" in page

    def test_plurals_follow_the_count_in_portuguese(self, admin_client):
        failed = ScheduledWhatsAppMessageFactory.create_batch(
            2, status=ScheduledWhatsAppMessage.Status.FAILED
        )
        response = admin_client.post(
            reverse(MESSAGES),
            {"action": "retry_now", "_selected_action": [m.pk for m in failed]},
            HTTP_ACCEPT_LANGUAGE="pt-BR",
            follow=True,
        )
        assert "2 mensagens com falha serão enviadas na próxima passada." in (
            response.content.decode()
        )


@pytest.mark.django_db
class TestDates:
    """One format per language, in the staff's time zone, with the zone: lists and pages
    agree."""

    @pytest.fixture
    def retried_message(self, settings):
        settings.TIME_ZONE = "America/Sao_Paulo"
        return ScheduledWhatsAppMessageFactory(
            status=ScheduledWhatsAppMessage.Status.PENDING,
            attempts=1,
            next_attempt_at=dt.datetime(2026, 11, 25, 14, 23, tzinfo=dt.UTC),
        )

    @pytest.mark.parametrize(
        ("accept", "shown"),
        [("en", "2026-11-25 11:23 -03"), ("pt-BR", "25/11/2026 11:23 -03")],
    )
    def test_the_list_and_the_page_show_the_same_time_with_its_zone(
        self, admin_client, retried_message, accept, shown
    ):
        listed = admin_client.get(reverse(MESSAGES), HTTP_ACCEPT_LANGUAGE=accept)
        page = admin_client.get(
            reverse("admin:scheduling_scheduledwhatsappmessage_change", args=[retried_message.pk]),
            HTTP_ACCEPT_LANGUAGE=accept,
        )

        assert re.search(
            rf'<td class="field-next_attempt_at[^"]*">{re.escape(shown)}</td>',
            listed.content.decode(),
        )
        assert f'<div class="readonly">{shown}</div>' in page.content.decode()


def test_a_commands_translated_help_is_printed():
    """Help strings are translated when the parser is built (argparse takes no lazy string)."""
    done = subprocess.run(
        [sys.executable, "manage.py", "process_message_queue", "--help"],
        cwd=REPO,
        env={**os.environ, "DJANGO_DEBUG": "1", "DJANGO_ENV_FILE": "/nonexistent.env"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Send the due scheduled messages." in done.stdout
    assert "Keep polling until stopped." in done.stdout


@pytest.mark.django_db
class TestSessionsInPortuguese:
    """What the services say to staff is in their language, statuses included."""

    def test_a_refused_move_names_the_status_in_the_sentences_language(self):
        old = WhatsAppSessionFactory(status=WhatsAppSession.Status.DISCONNECTED)
        new = WhatsAppSessionFactory(
            organization=old.organization,
            phone_number=old.phone_number,
            status=WhatsAppSession.Status.DISCONNECTED,
        )
        for language, refusal in [
            ("en", f"Session {new.pk} is disconnected; references only move to a connected"),
            ("pt-br", f"A sessão {new.pk} está desconectada; as referências só vão para uma"),
        ]:
            with translation.override(language), pytest.raises(SessionMigrationError) as refused:
                migrate_session(old, new, trigger=SessionMigration.Trigger.ADMIN)
            assert str(refused.value).startswith(refusal)

    def test_a_groups_sync_summary_counts_in_portuguese(self):
        result = GroupSyncResult(session=WhatsAppSessionFactory())
        result.counts.update(created=1, deactivated=2)
        result.vanished.append(VanishedGroup(1, "999@g.us", "Turma Z", pending_messages=3))
        with translation.override("en"):
            assert result.summary() == (
                "created 1, deactivated 2, 3 pending messages in groups now inactive"
            )
        with translation.override("pt-br"):
            assert result.summary() == (
                "1 criado, 2 desativados, 3 mensagens pendentes em grupos agora inativos"
            )

    def test_a_commands_output_follows_the_active_language(self):
        with translation.override("pt-br"):
            out = io.StringIO()
            call_command("migrate_sessions", "--auto", "--dry-run", stdout=out)
        assert out.getvalue() == "Nada a mover.\n"
