"""Production settings under gunicorn: whitenoise serves the admin's collected, hashed static
files, and the admin and /healthz answer behind an HTTPS-terminating proxy."""

import os
import re
import secrets
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest

from tests.server_process import free_port, serving

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
# What a proxy that terminated TLS for example.com forwards.
BEHIND_PROXY = {"Host": "example.com", "X-Forwarded-Proto": "https"}


@pytest.fixture(scope="module")
def production_server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("production")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_ENV_FILE": str(tmp_path / "absent.env"),
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "example.com",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "WHATSAPP_GATEWAY_BACKEND": "sessions_app.gateway.console.GatewayBackend",
        "WHATSAPP_GATEWAY_URL": "https://waha.example.com",
        "WHATSAPP_GATEWAY_API_KEY": secrets.token_urlsafe(24),
        "WHATSAPP_WEBHOOK_SECRET": secrets.token_urlsafe(24),
        "GUNICORN_WORKERS": "1",
    }
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run(
            [sys.executable, "manage.py", *command, "-v", "0"],
            cwd=REPO,
            env=env,
            check=True,
            timeout=120,
        )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py"],
        cwd=REPO,
        env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}"},
        log=tmp_path / "gunicorn.log",
        url=url,
        timeout=60,
        headers=BEHIND_PROXY,
    ):
        yield url


def test_the_admin_login_and_its_hashed_stylesheet_are_served(production_server):
    with httpx.Client(base_url=production_server, headers=BEHIND_PROXY, timeout=10) as client:
        login = client.get("/admin/login/")
        stylesheet = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', login.text)
        css = client.get(stylesheet.group(1)) if stylesheet else None

    assert login.status_code == HTTPStatus.OK
    assert login.headers["strict-transport-security"].startswith("max-age=31536000")
    assert stylesheet, "the admin links its stylesheet by its hashed name"
    assert css.status_code == HTTPStatus.OK
    assert css.headers["content-type"].startswith("text/css")
    assert "immutable" in css.headers["cache-control"]


def test_healthz_answers_and_plain_http_elsewhere_is_redirected(production_server):
    plain = {"Host": "example.com"}

    assert httpx.get(f"{production_server}/healthz", headers=plain).status_code == HTTPStatus.OK
    redirect = httpx.get(f"{production_server}/admin/login/", headers=plain)
    assert redirect.status_code == HTTPStatus.MOVED_PERMANENTLY
    assert redirect.headers["location"] == "https://example.com/admin/login/"


def test_an_unknown_host_is_refused(production_server):
    response = httpx.get(
        f"{production_server}/admin/login/", headers={**BEHIND_PROXY, "Host": "evil.example"}
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
