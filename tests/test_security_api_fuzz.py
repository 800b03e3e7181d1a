"""schemathesis fuzzes every operation of ``/api/schema/`` through the WSGI app: no answer is
a 500, and every answer matches the schema. A bounded number of examples per operation."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from channels_app.models import SystemReporter
from channels_app.services import channel_account_create
from orderhub.models import Order
from orderhub.wsgi import application
from tests.factories import OrderFactory, WarehouseFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def _keep_the_test_connection() -> Iterator[None]:
    """The WSGI handler closes old connections at each request's start and end; the test's
    connection holds its transaction. Django's test client disconnects these the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(db: None, _keep_the_test_connection: None, settings: Any) -> str:
    """A superuser's token, an order, and a WMS account it may report for (so that fuzzed
    facts and stock reach the services, not only the validation)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Every server has its signing key (start-up refuses one without): the allocation
    # public key is served from it.
    settings.ALLOCATION_SIGNING_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
    user = get_user_model().objects.create_superuser("fuzz", "fuzz@example.com", "pw")
    warehouse = WarehouseFactory(code="WH-SH")
    OrderFactory(warehouse=warehouse)
    wms = channel_account_create(
        kind="wms", code="wms-sh", options={"warehouse": "WH-SH"}, secrets={}
    )
    SystemReporter.objects.create(account=wms, user=user)
    return Token.objects.create(user=user).key


_TURN = [0]


def _aim(case: Any) -> None:
    """Random strings never name the one account or order that exists; point half of the
    cases at them so the fuzzed values reach the services, not only the validation."""
    _TURN[0] += 1
    if _TURN[0] % 2:
        return
    items = case.body if isinstance(case.body, list) else [case.body]
    for item in items:
        if isinstance(item, dict) and "system" in item:
            item["system"] = "wms-sh"
    if case.path_parameters and "id" in case.path_parameters:
        case.path_parameters["id"] = Order.objects.values_list("pk", flat=True).first()


# About 60 s on the shared 2-core machine (four operations, 20 examples each).
@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_answers_every_fuzzed_request_without_a_500_and_within_its_schema(
    case: Any, token: str
) -> None:
    _aim(case)
    case.call_and_validate(
        headers={"Authorization": f"Token {token}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
