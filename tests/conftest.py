import os

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
