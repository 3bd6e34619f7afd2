import fcntl
import os
import tempfile
from pathlib import Path

import pytest
from django.conf import settings


def _engine() -> str:
    return settings.DATABASES["default"]["ENGINE"]


def pytest_report_header(config):
    db = settings.DATABASES["default"]
    return f"database: {db['ENGINE']} {db.get('HOST') or ''}:{db.get('PORT') or ''} {db['NAME']}"


def pytest_sessionstart(session):
    if os.environ.get("CI", "").lower() == "true" and "postgresql" not in _engine():
        pytest.exit("CI=true needs PostgreSQL: set DATABASE_URL or run `make test`.", returncode=2)


# `make mutants` runs mutants side by side (`--max-children`), each process in a test database
# of its own: a slot, held by a lock on a file until the process ends, names it.
_MUTANT_SLOTS = 16
MUTANT_LOCK_TIMEOUT = "20s"
_held_slot: tuple[int, int, object] | None = None  # (process id, slot, the locked file)


def _mutant_slot() -> int | None:
    """This process's slot under mutmut, which sets MUTANT_UNDER_TEST; None elsewhere."""
    global _held_slot
    if "MUTANT_UNDER_TEST" not in os.environ:
        return None
    # A forked child inherits its parent's record, not its lock.
    if _held_slot is not None and _held_slot[0] == os.getpid():
        return _held_slot[1]
    locks = Path(tempfile.gettempdir()) / f"mutant-slots-{settings.DATABASES['default']['NAME']}"
    locks.mkdir(exist_ok=True)
    for slot in range(_MUTANT_SLOTS):
        handle = (locks / str(slot)).open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _held_slot = (os.getpid(), slot, handle)
        return slot
    raise RuntimeError(f"More than {_MUTANT_SLOTS} mutant processes at once.")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    slot = _mutant_slot()
    if slot is None or "postgresql" not in _engine():
        return
    from django.db import connections

    settings_dict = connections["default"].settings_dict
    test = settings_dict.setdefault("TEST", {})
    base = test.get("NAME", "").partition("_slot")[0]
    test["NAME"] = f"{base}_slot{slot}"
    # A mutant that takes a stronger lock can leave a test waiting on one of its own other
    # connections; mutmut's timeout counts CPU time, which a wait never spends. Fail instead.
    settings_dict.setdefault("OPTIONS", {})["options"] = f"-c lock_timeout={MUTANT_LOCK_TIMEOUT}"


@pytest.fixture(autouse=True)
def _statements_compiled_afresh():
    """Each test compiles the statements the migration service compiles once per process, as a
    process of its own would: a test's result never depends on which tests ran before it, and
    mutation testing, which picks the tests to run by the code they reach, sees every test that
    reaches the compiling."""
    from sessions_app.services.migration import forget_compiled_statements

    forget_compiled_statements()


@pytest.fixture(autouse=True)
def _default_language_afterwards():
    """A request in Portuguese leaves Portuguese active in the thread (the locale middleware
    activates a request's language and nothing undoes it in the test client): each test starts
    from the default language, whatever ran before it."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture
def postgres_only():
    """Skip where the behaviour under test only exists on PostgreSQL (never under CI=true)."""
    if "postgresql" not in _engine():
        pytest.skip("needs PostgreSQL")


@pytest.fixture
def redeclare():
    """Replace an app's declared references (its `references.py` REFERENCES) for one test, as
    an edit of that file would; the registry reads the apps again before and after."""
    from sessions_app.references import declared_references

    saved = []

    def replace(module, references) -> None:
        saved.append((module, module.REFERENCES))
        module.REFERENCES = tuple(references)
        declared_references.cache_clear()

    yield replace
    for module, references in reversed(saved):
        module.REFERENCES = references
    declared_references.cache_clear()


@pytest.fixture
def story_gateway(settings):
    """The in-memory gateway as the product's backend, and the webhook secret the reconnect
    stories (`tests/reconnect_stories.py`) sign WAHA's webhooks with."""
    from tests.reconnect_stories import WEBHOOK_SECRET

    settings.WHATSAPP_GATEWAY_BACKEND = "sessions_app.gateway.locmem.GatewayBackend"
    settings.WHATSAPP_WEBHOOK_SECRET = WEBHOOK_SECRET
