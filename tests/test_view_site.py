"""The admin is the whole site: its "View site" link, and the bare host, open the admin."""

import re
from http import HTTPStatus

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_view_site_opens_the_admin_index(admin_client):
    index = admin_client.get(reverse("admin:index")).content.decode()
    [link] = re.findall(r'<a href="([^"]*)">View site</a>', index)

    response = admin_client.get(link, follow=True)

    assert response.status_code == HTTPStatus.OK
    assert response.redirect_chain == [(reverse("admin:index"), HTTPStatus.FOUND)]


def test_the_bare_host_sends_a_visitor_to_the_admin_login(client):
    response = client.get("/", follow=True)

    assert response.status_code == HTTPStatus.OK
    assert response.redirect_chain[-1][0].startswith(reverse("admin:login"))
