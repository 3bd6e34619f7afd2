"""`make run` as a user meets it: the script serves the admin with the demo organization and a
login that works, under gunicorn, on its own SQLite file."""

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest

from tests.server_process import free_port, serving

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 90


@dataclass
class DevServer:
    url: str
    log: Path
    env: dict

    def output(self) -> str:
        return self.log.read_text()


def dev_environment(tmp_path: Path) -> dict:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHON": sys.executable,
        "DJANGO_ENV_FILE": str(tmp_path / "absent.env"),
        # An outer PostgreSQL URL must not be what `make run` migrates and seeds.
        "DATABASE_URL": "postgres://must-not-be-used.invalid/none",
        "RUN_DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}",
        "PORT": str(free_port()),
    }


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("make-run")
    env = dev_environment(tmp_path)
    server = DevServer(f"http://127.0.0.1:{env['PORT']}", tmp_path / "server.log", env)
    with serving(
        ["./scripts/run-dev.sh"],
        cwd=REPO,
        env=env,
        log=server.log,
        url=server.url,
        timeout=START_TIMEOUT,
    ):
        yield server


def printed_login(output: str) -> tuple[str, str]:
    match = re.search(r"Login:\s+(\S+) / (\S+)  \(generated now", output)
    assert match, output
    return match.group(1), match.group(2)


def log_in(server: DevServer, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=10)
    client.get("/admin/login/")
    response = client.post(
        "/admin/login/?next=/admin/",
        data={
            "username": username,
            "password": password,
            "next": "/admin/",
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
    )
    assert response.status_code == HTTPStatus.FOUND, response.text[:2000]
    assert response.headers["location"] == "/admin/"
    return client


def test_prints_the_url_and_serves_login_health_and_styles(dev_server):
    assert f"Admin:    {dev_server.url}/admin/" in dev_server.output()
    assert httpx.get(f"{dev_server.url}/admin/login/").status_code == HTTPStatus.OK
    health = httpx.get(f"{dev_server.url}/healthz")
    assert health.status_code == HTTPStatus.OK
    assert health.json()["database"] == "ok"
    css = httpx.get(f"{dev_server.url}/static/admin/css/base.css")
    assert css.status_code == HTTPStatus.OK
    assert css.headers["content-type"].startswith("text/css")


def test_the_printed_login_shows_the_demo_organization(dev_server):
    username, password = printed_login(dev_server.output())

    client = log_in(dev_server, username, password)
    try:
        organizations = client.get("/admin/sessions_app/organization/")
    finally:
        client.close()

    assert organizations.status_code == HTTPStatus.OK
    assert "Instituto Aurora" in organizations.text
    assert "Escola Horizonte" in organizations.text


def test_a_wrong_password_is_refused(dev_server):
    with httpx.Client(base_url=dev_server.url, timeout=10) as client:
        client.get("/admin/login/")
        response = client.post(
            "/admin/login/",
            data={
                "username": "admin",
                "password": "admin",
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
            },
        )

    assert response.status_code == HTTPStatus.OK
    assert "Please enter the correct username and password" in response.text


def test_every_admin_list_and_demo_page_opens(dev_server):
    username, password = printed_login(dev_server.output())
    client = log_in(dev_server, username, password)
    try:
        index = client.get("/admin/")
        changelists = sorted(set(re.findall(r'href="(/admin/\w+/\w+/)"', index.text)))
        sessions = client.get("/admin/sessions_app/whatsappsession/")
        change_pages = sorted(
            set(
                re.findall(
                    r'href="(/admin/sessions_app/whatsappsession/[0-9a-f-]{36}/change/)"',
                    sessions.text,
                )
            )
        )
        answers = {url: client.get(url).status_code for url in changelists + change_pages}
    finally:
        client.close()

    assert "/admin/sessions_app/whatsappsession/" in changelists
    assert "/admin/scheduling/scheduledwhatsappmessage/" in changelists
    assert len(change_pages) == 3, "the three demo sessions"
    assert {url: status for url, status in answers.items() if status != HTTPStatus.OK} == {}


# Changes the admin's password: keep it last.
def test_a_later_start_keeps_the_password_or_takes_the_one_given(dev_server):
    username, generated = printed_login(dev_server.output())
    env = {
        **dev_server.env,
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": dev_server.env["RUN_DATABASE_URL"],
    }
    ensure = [sys.executable, "scripts/ensure-superuser.py"]

    kept = subprocess.run(ensure, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)

    assert kept.returncode == 0, kept.stderr
    assert "existing password" in kept.stdout
    assert "changepassword admin" in kept.stdout
    assert generated not in kept.stdout
    log_in(dev_server, username, generated).close()

    chosen = "a-chosen-password-for-the-demo"
    given = subprocess.run(
        ensure,
        cwd=REPO,
        env={**env, "DJANGO_SUPERUSER_PASSWORD": chosen},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert given.returncode == 0, given.stderr
    assert chosen not in given.stdout
    log_in(dev_server, username, chosen).close()
