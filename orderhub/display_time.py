"""Showing a stored time never fails, however close to the calendar's end it is.

PostgreSQL keeps times up to year 294276 and Python up to 9999-12-31; a row holding
9999-12-31 23:59:59+00 loads, but showing it in Asia/Shanghai (+08:00) overflows Python's
``datetime`` and every page that renders it (admin, trace, PDF) would answer 500. Django
converts through ``django.utils.timezone.localtime`` and ``make_naive`` (templates, the
admin's display helpers, form widgets); ``install()`` wraps both so that a time which cannot
be converted is shown as it is stored (UTC) instead. Values that convert are untouched.

Sane-time validation (``orderhub.validation``) keeps such times out of new data; this is the
guard for what is already stored or arrives by a path that does not validate.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import wraps
from typing import Any

from django.utils import timezone


def _safe_localtime(original: Any) -> Any:
    @wraps(original)
    def localtime(value: datetime | None = None, timezone: tzinfo | None = None) -> datetime:
        try:
            return original(value, timezone)
        except OverflowError:
            return value  # type: ignore[return-value]  # (None never overflows)

    localtime.__dict__["_orderhub_safe"] = True
    return localtime


def _safe_make_naive(original: Any) -> Any:
    @wraps(original)
    def make_naive(value: datetime, timezone: tzinfo | None = None) -> datetime:
        try:
            return original(value, timezone)
        except OverflowError:
            return value.replace(tzinfo=None)

    make_naive.__dict__["_orderhub_safe"] = True
    return make_naive


def install() -> None:
    """Wrap Django's conversions once (idempotent); called from ``OrderHubConfig.ready``."""
    if not getattr(timezone.localtime, "_orderhub_safe", False):
        timezone.localtime = _safe_localtime(timezone.localtime)
    if not getattr(timezone.make_naive, "_orderhub_safe", False):
        timezone.make_naive = _safe_make_naive(timezone.make_naive)
