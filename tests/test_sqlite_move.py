"""`make run`'s SQLite database moves references too: statement by statement, where PostgreSQL
runs the move as one statement, with the same counts and the same audit."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(database: Path, *args: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_ENV_FILE": "/nonexistent.env",
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{database}",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


# The audit names rows by their ids as staff see them anywhere else (with dashes).
AUDIT = """
from scheduling.models import Workshop
from sessions_app.models import SessionMigration, WhatsAppGroup
import json
def ids(queryset):
    return sorted(str(pk) for pk in queryset.values_list("pk", flat=True))
print(json.dumps([
    {"counts": m.counts, "listed": {k: len(v) for k, v in m.moved_ids.items()},
     "old": str(m.old_session_id), "new": str(m.new_session_id),
     "superseded_by": str(m.old_session.superseded_by_id),
     "workshops_are_the_new_sessions": sorted(m.moved_ids["workshops"])
        == ids(Workshop.objects.filter(whatsapp_session=m.new_session)),
     "groups_are_the_new_sessions": set(m.moved_ids["groups_moved"])
        <= set(ids(WhatsAppGroup.objects.filter(session=m.new_session)))}
    for m in SessionMigration.objects.all()
]))
"""


def test_the_demos_reconnected_phone_moves_on_sqlite_as_its_dry_run_said(tmp_path):
    database = tmp_path / "run.sqlite3"
    run(database, "migrate", "--verbosity", "0")
    run(database, "seed_demo")

    preview = json.loads(run(database, "migrate_sessions", "--auto", "--dry-run", "--json"))
    done = json.loads(run(database, "migrate_sessions", "--auto", "--json"))
    again = json.loads(run(database, "migrate_sessions", "--auto", "--json"))
    audits = json.loads(run(database, "shell", "--no-imports", "-c", AUDIT))

    assert len(done["migrations"]) == 1
    moved = done["migrations"][0]
    assert moved["counts"] == preview["migrations"][0]["counts"]
    assert moved["counts"]["workshops"] > 0 and moved["counts"]["groups_moved"] > 0
    assert again["migrations"] == []
    assert audits == [
        {
            "counts": moved["counts"],
            "listed": moved["counts"],
            "old": moved["old"],
            "new": moved["new"],
            "superseded_by": moved["new"],
            "workshops_are_the_new_sessions": True,
            "groups_are_the_new_sessions": True,
        }
    ]


UNDONE = """
from sessions_app.models import SessionMigration, WhatsAppSession
import json
move = SessionMigration.objects.get(trigger="command")
print(json.dumps({"id": str(move.pk), "old_superseded_by": str(move.old_session.superseded_by_id)}))
"""


def test_the_demos_move_is_undone_on_sqlite_as_it_was_made(tmp_path):
    database = tmp_path / "run.sqlite3"
    run(database, "migrate", "--verbosity", "0")
    run(database, "seed_demo")
    moved = json.loads(run(database, "migrate_sessions", "--auto", "--json"))["migrations"][0]
    move = json.loads(run(database, "shell", "--no-imports", "-c", UNDONE))

    undone = json.loads(run(database, "migrate_sessions", "--undo", move["id"], "--json"))
    after = json.loads(run(database, "shell", "--no-imports", "-c", UNDONE))

    assert move["old_superseded_by"] == moved["new"]
    assert (undone["undoes"], undone["counts"]) == (move["id"], moved["counts"])
    assert after["old_superseded_by"] == "None"


EVENT_TWICE = """
from sessions_app.models import GatewayEvent, WhatsAppSession
from sessions_app.services.status import apply_status_report
import json
session = WhatsAppSession.objects.filter(status="connected").first()
outcomes = [
    apply_status_report(session, "connected", event_id="evt-sqlite").result for _ in range(2)
]
print(json.dumps({"outcomes": outcomes, "events": GatewayEvent.objects.count()}))
"""


def test_a_gateway_event_counts_once_on_sqlite_too(tmp_path):
    database = tmp_path / "run.sqlite3"
    run(database, "migrate", "--verbosity", "0")
    run(database, "seed_demo")

    seen = json.loads(run(database, "shell", "--no-imports", "-c", EVENT_TWICE))

    assert seen == {"outcomes": ["unchanged", "duplicate"], "events": 1}


SWEEP = """
from sessions_app.models import SessionMigration
from sessions_app.services.migration import sweep_references
import json
results = sweep_references().results
print(json.dumps([
    str(result.migration.pk) if result.migration is not None else None for result in results
] + [str(pk) for pk in SessionMigration.objects.values_list("pk", flat=True)]))
"""


def test_each_move_on_sqlite_comes_back_with_its_audit_entry(tmp_path):
    """What the admin links to after a move by hand."""
    database = tmp_path / "run.sqlite3"
    run(database, "migrate", "--verbosity", "0")
    run(database, "seed_demo")

    returned, written = json.loads(run(database, "shell", "--no-imports", "-c", SWEEP))

    assert returned is not None and returned == written
