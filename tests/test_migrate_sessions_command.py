"""`manage.py migrate_sessions`: by hand (OLD NEW) and as a sweep (--auto)."""

import json
import os
import subprocess
import sys
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from scheduling.models import Workshop
from sessions_app.models import SessionMigration, WhatsAppSession
from tests import factories
from tests.migration_helpers import (
    COUNT_KEYS,
    Status,
    database_snapshot,
    give_references,
    new_then_old,
)

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("migrate_sessions", *[str(a) for a in args], stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refused(*args, match: str) -> str:
    before = database_snapshot()
    with pytest.raises(CommandError, match=match) as caught:
        run(*args)
    assert "\n" not in str(caught.value)
    assert database_snapshot() == before
    return str(caught.value)


class TestOneMove:
    def test_moves_and_prints_a_table_of_counts(self):
        old, new = new_then_old()
        held = give_references(old, count=3)

        out, err = run(old.pk, new.pk)

        assert f"Moved {old.pk} → {new.pk}" in out
        table = dict(line.split() for line in out.splitlines() if line.startswith("  "))
        assert set(table) == set(COUNT_KEYS)
        assert int(table["workshops"]) == len(held.workshops)
        assert err == ""
        audit = SessionMigration.objects.get()
        assert (audit.trigger, audit.actor) == ("command", None)
        assert Workshop.objects.filter(whatsapp_session=new).count() == 3

    def test_json(self):
        old, new = new_then_old()
        held = give_references(old)

        out, _ = run(old.pk, new.pk, "--json")

        document = json.loads(out)
        assert document["dry_run"] is False
        [migration] = document["migrations"]
        assert (migration["old"], migration["new"]) == (str(old.pk), str(new.pk))
        assert set(migration["counts"]) == set(COUNT_KEYS)
        assert migration["counts"]["webinars"] == len(held.webinars)
        assert migration["migration"] == str(SessionMigration.objects.get().pk)

    def test_the_json_names_the_audit_entry_that_undo_takes(self):
        old, new = new_then_old()
        held = give_references(old)
        out, _ = run(old.pk, new.pk, "--json")

        undone, _ = run("--undo", json.loads(out)["migrations"][0]["migration"], "--json")

        assert json.loads(undone)["counts"]["workshops"] == len(held.workshops)
        assert Workshop.objects.filter(whatsapp_session=old).count() == len(held.workshops)

    def test_dry_run_reports_and_changes_nothing(self):
        old, new = new_then_old()
        held = give_references(old)
        before = database_snapshot()

        out, _ = run(old.pk, new.pk, "--dry-run", "--json")

        assert database_snapshot() == before
        document = json.loads(out)
        assert document["dry_run"] is True
        assert document["migrations"][0]["counts"]["workshops"] == len(held.workshops)
        assert document["migrations"][0]["migration"] is None
        human, _ = run(old.pk, new.pk, "--dry-run")
        assert human.startswith(f"Would move {old.pk} → {new.pk}")
        assert database_snapshot() == before

    def test_force_moves_from_a_connected_session(self):
        old, new = new_then_old()
        WhatsAppSession.objects.filter(pk=old.pk).update(status=Status.CONNECTED)
        give_references(old)
        refused(old.pk, new.pk, match="still connected")

        run(old.pk, new.pk, "--force")

        assert SessionMigration.objects.get().forced is True

    def test_a_second_run_moves_nothing(self):
        old, new = new_then_old()
        give_references(old)
        run(old.pk, new.pk)

        out, _ = run(old.pk, new.pk, "--json")

        [again] = json.loads(out)["migrations"]
        assert set(again["counts"].values()) == {0}
        assert again["migration"] is None
        assert SessionMigration.objects.count() == 1


class TestBadInput:
    def test_a_malformed_id(self):
        _, new = new_then_old()
        message = refused("not-a-uuid", new.pk, match="not a valid session id")
        assert "'not-a-uuid'" in message

    def test_an_unknown_session(self):
        _, new = new_then_old()
        missing = uuid.uuid4()
        refused(missing, new.pk, match=f"Session {missing} does not exist")

    def test_a_refused_move(self):
        old, new = new_then_old(new_status=Status.DISCONNECTED)
        give_references(old)
        refused(old.pk, new.pk, match="only move to a connected session")

    def test_sessions_of_different_organizations_even_forced(self):
        old, _ = new_then_old()
        other = factories.WhatsAppSessionFactory()
        give_references(old)
        refused(old.pk, other.pk, "--force", match="different organizations")

    def test_missing_or_conflicting_arguments(self):
        old, new = new_then_old()
        refused(match="Give OLD and NEW")
        refused(old.pk, match="Give OLD and NEW")
        refused(old.pk, new.pk, "--auto", match="--auto takes no session ids")
        refused("--auto", "--force", match="never forces")
        refused(old.pk, new.pk, "--organization", old.organization_id, match="only goes with")

    def test_a_bad_organization_for_the_sweep(self):
        refused("--auto", "--organization", "nope", match="not a valid organization id")
        missing = uuid.uuid4()
        refused("--auto", "--organization", missing, match=f"Organization {missing} does not")


def sharing_a_prefix(row_id: uuid.UUID) -> uuid.UUID:
    """Another id that starts with the same 8 characters as `row_id`."""
    return uuid.UUID(f"{str(row_id)[:8]}-0000-4000-8000-000000000000")


class TestIdPrefixes:
    """Ids as the admin shows them: their first 8 characters, or more."""

    def test_sessions_named_by_the_start_of_their_ids(self):
        old, new = new_then_old()
        held = give_references(old)

        out, _ = run(str(old.pk)[:8], str(new.pk)[:13].upper())

        assert f"Moved {old.pk} → {new.pk}" in out
        assert Workshop.objects.filter(whatsapp_session=new).count() == len(held.workshops)

    def test_a_migration_undone_by_the_start_of_its_id(self):
        old, new = new_then_old()
        give_references(old)
        run(old.pk, new.pk)

        out, _ = run("--undo", str(SessionMigration.objects.get().pk)[:8])

        assert f"Moved back {new.pk} → {old.pk}" in out

    def test_an_organization_named_by_the_start_of_its_id(self):
        old, new = new_then_old(new_status=Status.CONNECTING)
        give_references(old)
        WhatsAppSession.objects.filter(pk=new.pk).update(status=Status.CONNECTED)

        out, _ = run("--auto", "--organization", str(old.organization_id)[:8], "--json")

        assert [m["old"] for m in json.loads(out)["migrations"]] == [str(old.pk)]

    def test_a_prefix_of_several_sessions_is_refused_naming_them(self):
        old, new = new_then_old()
        give_references(old)
        twin = factories.WhatsAppSessionFactory(
            id=sharing_a_prefix(old.pk), organization=old.organization
        )

        message = refused(str(old.pk)[:8], new.pk, match="matches more than one session id")

        assert str(old.pk) in message and str(twin.pk) in message

    def test_a_prefix_of_several_migrations_is_refused_naming_them(self):
        first = factories.SessionMigrationFactory()
        second = factories.SessionMigrationFactory(id=sharing_a_prefix(first.pk))

        message = refused("--undo", str(first.pk)[:8], match="more than one migration id")

        assert str(first.pk) in message and str(second.pk) in message

    def test_fewer_than_8_characters_are_refused(self):
        old, new = new_then_old()
        give_references(old)
        refused(str(old.pk)[:7], new.pk, match="too short: give at least 8 characters")
        refused("--undo", "abc", match="too short: give at least 8 characters of the migration")

    def test_a_prefix_nothing_starts_with_or_misplaced_hyphens(self):
        old, new = new_then_old()
        give_references(old)
        absent = f"{(int(str(old.pk)[:8], 16) + 1) % 16**8:08x}"
        if absent == str(new.pk)[:8]:
            absent = f"{(int(absent, 16) + 1) % 16**8:08x}"
        refused(absent, new.pk, match=f"No session id starts with '{absent}'")
        misplaced = f"{str(old.pk)[:4]}-{str(old.pk)[4:8]}"
        refused(misplaced, new.pk, match="not a valid session id")


class TestTheSweep:
    def test_a_session_connected_without_a_signal_adopts_its_predecessors(self):
        old, new = new_then_old(new_status=Status.CONNECTING)
        held = give_references(old)
        # QuerySet.update sends no post_save: only the sweep can notice this connect.
        WhatsAppSession.objects.filter(pk=new.pk).update(status=Status.CONNECTED)

        out, _ = run("--auto", "--json")

        [migration] = json.loads(out)["migrations"]
        assert (migration["old"], migration["new"]) == (str(old.pk), str(new.pk))
        assert migration["counts"]["workshops"] == len(held.workshops)
        old.refresh_from_db()
        assert old.superseded_by_id == new.pk

    def test_a_superseded_session_holding_references_again_hands_them_on(self):
        old, new = new_then_old()
        give_references(old)
        run(old.pk, new.pk)
        late = Workshop.objects.create(
            organization=old.organization,
            title="Attached late",
            starts_at=new.created_at,
            whatsapp_session=old,
        )

        out, _ = run("--auto")

        late.refresh_from_db()
        assert late.whatsapp_session_id == new.pk
        assert f"Moved {old.pk} → {new.pk}" in out
        assert SessionMigration.objects.filter(old_session=old, new_session=new).count() == 2

    def test_a_superseded_chain_hands_them_to_its_live_end(self):
        organization = factories.OrganizationFactory()
        c = factories.WhatsAppSessionFactory(
            organization=organization, phone_number="+5511900000001"
        )
        a, b = (
            factories.WhatsAppSessionFactory(
                organization=organization,
                phone_number="+5511900000001",
                status=Status.DISCONNECTED,
            )
            for _ in range(2)
        )
        WhatsAppSession.objects.filter(pk=a.pk).update(superseded_by=b)
        WhatsAppSession.objects.filter(pk=b.pk).update(superseded_by=c)
        held = give_references(a)

        run("--auto")

        assert {w.whatsapp_session_id for w in Workshop.objects.all()} == {c.pk}
        assert len(held.workshops) == Workshop.objects.count()

    def test_a_move_the_sweep_may_not_make_is_reported_and_fails_the_run(self):
        old, new = new_then_old()
        WhatsAppSession.objects.filter(pk=new.pk).update(phone_number="+5511977776666")
        run(old.pk, new.pk, "--force")
        late = Workshop.objects.create(
            organization=old.organization,
            title="Late",
            starts_at=new.created_at,
            whatsapp_session=old,
        )
        out, err = StringIO(), StringIO()

        with pytest.raises(CommandError, match="1 move"):
            call_command("migrate_sessions", "--auto", stdout=out, stderr=err)

        [line] = err.getvalue().splitlines()
        assert line.startswith(str(old.pk)) and "not the same phone" in line
        late.refresh_from_db()
        assert late.whatsapp_session_id == old.pk  # the sweep never forces

    def test_only_the_given_organization(self):
        ours_old, ours_new = new_then_old(new_status=Status.CONNECTING)
        theirs_old, theirs_new = new_then_old(new_status=Status.CONNECTING)
        give_references(ours_old)
        give_references(theirs_old)
        WhatsAppSession.objects.filter(pk__in=[ours_new.pk, theirs_new.pk]).update(
            status=Status.CONNECTED
        )

        out, _ = run("--auto", "--organization", ours_old.organization_id, "--json")

        assert [m["old"] for m in json.loads(out)["migrations"]] == [str(ours_old.pk)]
        theirs_old.refresh_from_db()
        assert theirs_old.superseded_by is None

    def test_dry_run_changes_nothing_and_a_second_sweep_finds_nothing(self):
        old, new = new_then_old(new_status=Status.CONNECTING)
        give_references(old)
        WhatsAppSession.objects.filter(pk=new.pk).update(status=Status.CONNECTED)
        before = database_snapshot()

        preview, _ = run("--auto", "--dry-run", "--json")

        assert database_snapshot() == before
        assert json.loads(preview)["dry_run"] is True
        done, _ = run("--auto", "--json")
        [moved] = json.loads(done)["migrations"]
        assert moved.pop("migration") == str(SessionMigration.objects.get().pk)
        assert [moved] == [
            {key: value for key, value in m.items() if key != "migration"}
            for m in json.loads(preview)["migrations"]
        ]
        again, _ = run("--auto")
        assert again.strip() == "Nothing to move."


def _manage(*args) -> subprocess.CompletedProcess:
    """`manage.py migrate_sessions` in a process of its own, against the test database."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url}
    root = Path(__file__).resolve().parent.parent
    return subprocess.run(
        [sys.executable, "manage.py", "migrate_sessions", *map(str, args)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.usefixtures("postgres_only")
@pytest.mark.django_db(transaction=True)
class TestExitCodes:
    def test_bad_input_exits_non_zero_with_one_line_on_stderr(self):
        old, new = new_then_old(new_status=Status.CONNECTING)
        give_references(old)
        factories.WhatsAppSessionFactory(id=sharing_a_prefix(old.pk), organization=old.organization)
        cases = [
            (("oops", new.pk), "not a valid session id"),
            ((uuid.uuid4(), new.pk), "does not exist"),
            ((old.pk, new.pk), "only move to a connected session"),
            ((str(old.pk)[:8], new.pk), "matches more than one session id"),
            ((str(new.pk)[:7], old.pk), "too short"),
        ]
        for args, reason in cases:
            before = database_snapshot()
            done = _manage(*args)
            assert done.returncode != 0, args
            [line] = done.stderr.strip().splitlines()
            assert reason in line
            assert done.stdout == ""
            assert database_snapshot() == before

    def test_a_move_exits_zero_with_json_on_stdout(self):
        old, new = new_then_old()
        give_references(old)

        done = _manage(old.pk, new.pk, "--json")

        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["migrations"][0]["counts"]["workshops"] == 2


class TestUndo:
    def test_json_reports_what_went_back_and_what_stayed(self):
        old, new = new_then_old()
        held = give_references(old, count=3)
        run(old.pk, new.pk)
        migration = SessionMigration.objects.get()
        gone = held.webinars[0]
        gone_id = str(gone.pk)
        gone.delete()

        out, err = run("--undo", migration.pk, "--json")

        document = json.loads(out)
        undo = SessionMigration.objects.get(trigger="undo")
        assert document["undo"] == str(undo.pk)
        assert document["undoes"] == str(migration.pk)
        assert (document["old"], document["new"]) == (str(old.pk), str(new.pk))
        assert set(document["counts"]) == set(COUNT_KEYS)
        assert document["counts"]["webinars"] == len(held.webinars) - 1
        assert document["left"] == {"webinars": [{"id": gone_id, "reason": "deleted since"}]}
        assert err == ""
        assert Workshop.objects.filter(whatsapp_session=old).count() == len(held.workshops)

    def test_dry_run_changes_nothing(self):
        old, new = new_then_old()
        give_references(old)
        run(old.pk, new.pk)
        migration = SessionMigration.objects.get()
        before = database_snapshot()

        out, _ = run("--undo", migration.pk, "--dry-run", "--json")

        assert json.loads(out)["undo"] is None
        assert json.loads(out)["counts"] == migration.counts
        assert database_snapshot() == before

    def test_a_table_without_json(self):
        old, new = new_then_old()
        give_references(old)
        run(old.pk, new.pk)
        out, _ = run("--undo", SessionMigration.objects.get().pk)
        assert f"Moved back {new.pk} → {old.pk}" in out

    @pytest.mark.parametrize(
        ("args", "match"),
        [
            (["--undo", "nope"], "not a valid migration id"),
            (["--undo", uuid.UUID(int=7)], "does not exist"),
            (["--undo", uuid.UUID(int=7), "--auto"], "--undo takes a migration id only"),
        ],
    )
    def test_bad_input_is_refused_in_one_line(self, args, match):
        refused(*args, match=match)

    def test_an_undo_is_not_undone(self):
        old, new = new_then_old()
        give_references(old)
        run(old.pk, new.pk)
        run("--undo", SessionMigration.objects.get().pk)
        refused("--undo", SessionMigration.objects.get(trigger="undo").pk, match="itself an undo")


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_organization_is_refused_not_swept(value):
    old, _ = new_then_old()
    give_references(old)
    refused("--auto", "--organization", value, match="--organization is empty")
