"""The DB-budget watchdog wakes once per budget, not once per delivery, and still cuts."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from channels_app.dbbudget import _Watchdog


def _wrapper() -> Any:
    # Never connected: cutting it only records the cut (nothing to shut down).
    return SimpleNamespace(connection=None, alias="default")


def _settle() -> None:
    time.sleep(0.1)  # let the thread reach its wait


def test_budgets_one_after_the_other_do_not_wake_the_watchdog_each() -> None:
    watchdog = _Watchdog()
    first = watchdog.arm(time.monotonic() + 30, _wrapper())
    _settle()
    assert watchdog.disarm(first) is False
    woken = watchdog.wakes
    for _ in range(200):  # 200 deliveries, each within its 30 s budget
        token = watchdog.arm(time.monotonic() + 30, _wrapper())
        assert watchdog.disarm(token) is False
    _settle()
    assert watchdog.wakes == woken
    assert watchdog.armed == {}
    assert watchdog.cut == set()


def test_an_expired_budget_is_cut_at_its_deadline_and_a_kept_one_is_not() -> None:
    watchdog = _Watchdog()
    kept = watchdog.arm(time.monotonic() + 30, _wrapper())
    _settle()
    started = time.monotonic()
    # An earlier deadline than the one the thread sleeps towards: it is woken for it.
    expired = watchdog.arm(started + 0.2, _wrapper())
    while expired not in watchdog.cut and time.monotonic() - started < 5:
        time.sleep(0.01)
    waited = time.monotonic() - started
    assert 0.2 <= waited < 2
    assert watchdog.disarm(expired) is True
    assert watchdog.disarm(kept) is False
    assert watchdog.cut == set()
