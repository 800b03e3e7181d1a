"""Staff pages send anonymous visitors to the admin login; API docs are staff-only, local."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from orderhub.pagination import API_MAX_LIMIT
from tests.factories import OrderFactory


@pytest.mark.django_db
def test_trace_redirects_an_anonymous_visitor_to_the_admin_login(client: Client) -> None:
    response = client.get("/trace/")
    assert (response.status_code, response["Location"]) == (302, "/admin/login/?next=/trace/")
    assert client.get(response["Location"]).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/schema/swagger-ui/", "/api/schema/redoc/"])
def test_api_docs_redirect_anonymous_and_non_staff_users_to_the_login(
    client: Client, django_user_model: Any, path: str
) -> None:
    assert client.get(path)["Location"] == f"/admin/login/?next={path}"
    django_user_model.objects.create_user("clerk", password="pw")
    client.login(username="clerk", password="pw")
    response = client.get(path)
    assert (response.status_code, response["Location"]) == (302, f"/admin/login/?next={path}")


@pytest.mark.django_db
def test_api_docs_for_staff_load_their_assets_locally(
    client: Client, django_user_model: Any
) -> None:
    django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.login(username="staff", password="pw")
    swagger = client.get("/api/schema/swagger-ui/")
    redoc = client.get("/api/schema/redoc/")
    assert (swagger.status_code, redoc.status_code) == (200, 200)
    swagger_html, redoc_html = swagger.content.decode(), redoc.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in swagger_html
    assert "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in redoc_html
    for html in (swagger_html, redoc_html):
        assert "/api/schema/" in html
        assert "cdn" not in html.lower()
        assert "https://" not in html
    # The schema the pages load is served to the same session.
    assert client.get("/api/schema/").status_code == 200


@pytest.mark.django_db
def test_api_limit_is_capped(django_user_model: Any) -> None:
    OrderFactory.create_batch(API_MAX_LIMIT + 3)
    user = django_user_model.objects.create_superuser("api", "api@example.com", "pw")
    api = APIClient()
    api.force_authenticate(user)
    body = api.get("/api/v1/orders/?limit=100000").json()
    assert (body["count"], len(body["results"])) == (API_MAX_LIMIT + 3, API_MAX_LIMIT)
    assert len(api.get("/api/v1/orders/?limit=7").json()["results"]) == 7
    assert len(api.get("/api/v1/orders/").json()["results"]) == 50
