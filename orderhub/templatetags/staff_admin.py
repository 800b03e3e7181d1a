"""The admin index in two parts: the apps people use daily first, the system's below."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()

# Apps people work in every day; everything else (users, Celery beat, tokens, login lockout,
# two-factor devices...) goes under "System".
DAILY_APPS = ("orderhub", "health", "traceability", "channels_app", "customers")


@register.filter
def daily_apps(app_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = {label: index for index, label in enumerate(DAILY_APPS)}
    daily = [app for app in app_list if app.get("app_label") in order]
    return sorted(daily, key=lambda app: order[app["app_label"]])


@register.filter
def system_apps(app_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [app for app in app_list if app.get("app_label") not in DAILY_APPS]
