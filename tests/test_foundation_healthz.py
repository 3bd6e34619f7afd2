from http import HTTPStatus
from unittest import mock

import pytest
from django.db import OperationalError


@pytest.mark.django_db
class TestHealthz:
    def test_answers_ok_when_the_database_answers(self, client):
        response = client.get("/healthz")

        assert response.status_code == HTTPStatus.OK
        assert response.json() == {"status": "ok", "database": "ok"}

    def test_answers_503_without_the_drivers_error_text(self, client):
        error = OperationalError('connection to server at "db.internal", user "app_owner" failed')
        with mock.patch("config.urls.connection.cursor", side_effect=error):
            response = client.get("/healthz")

        assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert response.json() == {"status": "error", "database": "unavailable"}
        assert b"db.internal" not in response.content and b"app_owner" not in response.content

    def test_only_get(self, client):
        assert client.post("/healthz").status_code == HTTPStatus.METHOD_NOT_ALLOWED

    def test_is_not_redirected_to_https_while_the_rest_is(self, client, settings):
        # Load balancers probe over plain HTTP inside the network.
        settings.SECURE_SSL_REDIRECT = True

        assert client.get("/healthz").status_code == HTTPStatus.OK
        assert client.get("/admin/login/").status_code == HTTPStatus.MOVED_PERMANENTLY
