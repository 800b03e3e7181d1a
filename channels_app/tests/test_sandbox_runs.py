"""Two sandbox runs send different orders under different delivery ids: no replay."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from channels_app.adapters.base import InboundRequest, adapters
from channels_app.sandbox import encoders, engine
from channels_app.tests.test_sandbox import ACCOUNTS, PRIVATE


def inbound(request: encoders.Request) -> InboundRequest:
    headers = {name.lower(): value for name, value in request.headers.items()}
    return InboundRequest(request.body, headers, request.query, datetime.now(UTC))


def _identities(run: int, monkeypatch: pytest.MonkeyPatch) -> tuple[set[str], set[str]]:
    """(delivery ids, external ids) a run of 600 deliveries to every push kind sends."""
    monkeypatch.setattr(engine, "private_key_for", lambda code: PRIVATE)
    accounts = list(ACCOUNTS.values())
    config = engine.RunConfig(count=600, seed=1, run=run, bad_signatures=0, hostile=0)
    ledger = engine.Ledger()
    deliveries: set[str] = set()
    for job in engine.plan_jobs(accounts, config, ledger):
        for kind, _code, _external_id, category, request in job:
            if category != "normal":
                continue  # duplicates repeat an id of this run on purpose
            verified = adapters.get(kind)().verify(ACCOUNTS[kind], inbound(request))
            # DingTalk sends no delivery id: intake dedupes its callbacks by body hash.
            deliveries.add(
                f"{kind}:{verified.delivery_id or hashlib.sha256(verified.payload).hexdigest()}"
            )
    return deliveries, {external_id for _code, external_id in ledger.expected}


def test_two_runs_send_disjoint_delivery_and_order_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    first_deliveries, first_orders = _identities(17, monkeypatch)
    second_deliveries, second_orders = _identities(18, monkeypatch)
    assert len(first_deliveries) > 300
    assert len(first_orders) > 100
    assert first_deliveries.isdisjoint(second_deliveries)
    assert first_orders.isdisjoint(second_orders)
    # The same seed and run is the same orders again (reproducible on purpose; times and the
    # ids that embed them follow the clock).
    assert _identities(17, monkeypatch)[1] == first_orders


@pytest.mark.django_db
def test_the_sandbox_command_picks_a_new_run_per_start(monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[int] = []

    def fake_run(accounts: Any, config: engine.RunConfig, progress: Any = None) -> engine.Ledger:
        runs.append(config.run)
        return engine.Ledger()

    monkeypatch.setattr(engine, "run", fake_run)
    for _ in range(2):
        call_command("sandbox", "--setup", "--count", "1", "--kinds", "webform", stdout=StringIO())
    call_command("sandbox", "--count", "1", "--kinds", "webform", "--run", "5", stdout=StringIO())
    assert runs[0] != runs[1]
    assert runs[2] == 5


class _Stop(Exception):
    pass


@pytest.mark.parametrize(("given", "expected"), [([], 8799), (["--port", "8801"], 8801)])
def test_sandbox_api_port_comes_from_sandbox_api_port_unless_given(
    monkeypatch: pytest.MonkeyPatch, settings: Any, given: list[str], expected: int
) -> None:
    from channels_app.management.commands import sandbox_api

    ports: list[int] = []

    def fake_api(*, port: int) -> None:
        ports.append(port)
        raise _Stop

    settings.SANDBOX_API_PORT = 8799
    monkeypatch.setattr(sandbox_api, "SandboxAPI", fake_api)
    with pytest.raises(_Stop):
        call_command("sandbox_api", *given, stdout=StringIO())
    assert ports == [expected]
