"""Commands refuse what they cannot do with one line, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def manage(*args, **env):
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**base, "DJANGO_ENV_FILE": "/nonexistent.env", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("args", [["--help"], ["check"], ["migrate_sessions", "--auto"]])
def test_manage_py_without_a_secret_key_names_it_in_one_line(args):
    done = manage(*args)

    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "manage.py: DJANGO_SECRET_KEY must be set to a long random value when DJANGO_DEBUG is off."
    ]


def test_manage_py_names_the_next_missing_variable():
    done = manage("check", DJANGO_SECRET_KEY="k" * 60)

    assert done.returncode != 0
    assert done.stderr.strip() == "manage.py: Set the DJANGO_ALLOWED_HOSTS environment variable"


@pytest.mark.parametrize("loop", [[], ["--loop"]])
def test_the_dispatcher_on_sqlite_says_it_needs_postgresql_and_stops(tmp_path, loop):
    done = manage(
        "process_message_queue",
        *loop,
        DJANGO_DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )

    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "CommandError: The dispatcher needs PostgreSQL; DATABASE_URL points at sqlite."
    ]
