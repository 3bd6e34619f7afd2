"""Production settings under gunicorn: whitenoise serves the admin's collected, hashed static
files, and the admin and /healthz answer behind an HTTPS-terminating proxy."""

import hashlib
import hmac
import json
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


WEBHOOK_SECRET = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def production_env(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("production")
    return tmp_path, {
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
        "WHATSAPP_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "WHATSAPP_WEBHOOK_PUBLIC_URL": "https://example.com/webhooks/whatsapp/",
        "GUNICORN_WORKERS": "1",
    }


def manage(env, *command):
    return subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=REPO,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def production_server(production_env):
    tmp_path, env = production_env
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


def test_a_chunked_signed_webhook_is_read_and_applied(production_server, production_env):
    """gunicorn hands a chunked body to Django without a Content-Length."""
    _, env = production_env
    manage(
        env,
        "shell",
        "-c",
        "from sessions_app.models import Organization, WhatsAppSession; "
        "WhatsAppSession.objects.create(organization=Organization.objects.create(name='A'), "
        "session_data={'session_name': 'chunked-1'})",
    )
    body = json.dumps(
        {
            "event": "session.status",
            "session": "chunked-1",
            "me": {"id": "5511987654321@c.us"},
            "payload": {"status": "WORKING"},
        }
    ).encode()
    signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha512).hexdigest()

    def chunks(data):
        for start in range(0, len(data), 16):
            yield data[start : start + 16]

    with httpx.Client(base_url=production_server, headers=BEHIND_PROXY, timeout=10) as client:
        response = client.post(
            "/webhooks/whatsapp/", content=chunks(body), headers={"X-Webhook-Hmac": signature}
        )
        too_large = client.post(
            "/webhooks/whatsapp/",
            content=chunks(b"{" + b" " * (64 * 1024) + b"}"),
            headers={"X-Webhook-Hmac": "0" * 128},
        )

    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == HTTPStatus.OK, response.text
    assert response.json()["state"] == "connected"
    stored = manage(
        env,
        "shell",
        "-c",
        "from sessions_app.models import WhatsAppSession; "
        "s = WhatsAppSession.objects.get(); print(s.status, s.phone_number)",
    )
    assert stored.stdout.splitlines()[-1].split() == ["connected", "+5511987654321"]
    assert too_large.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
