"""Production settings: `check --deploy` is clean, and a missing variable stops the start with a
message naming it instead of running on a development default."""

import ast
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def production_env(tmp_path):
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        # A developer's .env must not fill in what production has to set.
        "DJANGO_ENV_FILE": str(tmp_path / "absent.env"),
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "example.com",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://example.com",
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}"),
        "WHATSAPP_GATEWAY_BACKEND": "sessions_app.gateway.console.GatewayBackend",
        "WHATSAPP_GATEWAY_URL": "https://waha.example.com",
        "WHATSAPP_GATEWAY_API_KEY": secrets.token_urlsafe(24),
        "WHATSAPP_WEBHOOK_SECRET": secrets.token_urlsafe(24),
        "WHATSAPP_WEBHOOK_PUBLIC_URL": "https://example.com/webhooks/whatsapp/",
    }


def run(args, env):
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def test_check_deploy_is_clean_with_production_variables(production_env):
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


@pytest.mark.parametrize(
    "variable",
    [
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "WHATSAPP_GATEWAY_BACKEND",
        "WHATSAPP_GATEWAY_URL",
        "WHATSAPP_GATEWAY_API_KEY",
        "WHATSAPP_WEBHOOK_SECRET",
        "WHATSAPP_WEBHOOK_PUBLIC_URL",
    ],
)
def test_production_refuses_to_start_without(variable, production_env):
    del production_env[variable]

    result = run(["-c", "import config.settings"], production_env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr.strip().splitlines()[-1]


def test_production_refuses_the_development_secret_key(production_env):
    production_env["DJANGO_SECRET_KEY"] = "insecure-development-only-key"

    result = run(["-c", "import config.settings"], production_env)

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_development_starts_with_nothing_set(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_ENV_FILE": str(tmp_path / "absent.env"),
        "DJANGO_DEBUG": "1",
    }

    result = run(["-c", "import config.settings as s; print(s.DATABASES['default']['NAME'])"], env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(REPO / "db.sqlite3")


def variables_read_by(path: Path) -> set[str]:
    """Names passed to `env(...)`, `env.<cast>(...)` and `os.environ.get(...)` in a module."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = node.args[0]
        function = ast.unparse(node.func)
        if (function == "env" or function.startswith("env.") or function == "os.environ.get") and (
            isinstance(name, ast.Constant) and isinstance(name.value, str)
        ):
            names.add(name.value)
    return names


def test_env_example_lists_every_variable_the_settings_read():
    documented = set(
        re.findall(r"^(?:# )?([A-Z][A-Z0-9_]+)=", (REPO / ".env.example").read_text(), re.M)
    )
    read = variables_read_by(REPO / "config" / "settings.py")
    read |= variables_read_by(REPO / "config" / "gunicorn.conf.py")

    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "WHATSAPP_GATEWAY_URL"} <= read
    assert read - documented == set(), "add these to .env.example"
