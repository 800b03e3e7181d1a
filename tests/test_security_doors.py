"""The doors: lockout after failed logins, two-factor for staff, CSP, rate limits, audit."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from traceability.models import LedgerEvent


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _ip() -> str:
    """A client address of its own per test: the rate-limit counters live in Redis."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


def _actions(**filters: Any) -> list[tuple[str, str]]:
    rows = LedgerEvent.objects.filter(source_system="orderhub:auth", **filters).order_by("id")
    return [(row.action, row.actor) for row in rows]


def _login(client: Client, username: str, password: str, ip: str) -> Any:
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
    )


@pytest.mark.django_db
def test_login_and_logout_are_ledger_events(django_user_model: Any) -> None:
    django_user_model.objects.create_user("ops", password="pw-ops-1", is_staff=True)
    client, ip = Client(), _ip()
    assert _login(client, "ops", "pw-ops-1", ip).status_code == 302
    client.post("/admin/logout/", REMOTE_ADDR=ip)
    events = LedgerEvent.objects.filter(action__in=["staff.login", "staff.logout"]).order_by("id")
    assert [(e.action, e.actor, e.references) for e in events] == [
        ("staff.login", "ops", {"ip": ip}),
        ("staff.logout", "ops", {"ip": ip}),
    ]


@pytest.mark.django_db
def test_five_failed_logins_lock_the_account_out_for_that_address(
    django_user_model: Any, settings: Any
) -> None:
    assert settings.AXES_FAILURE_LIMIT == 5
    django_user_model.objects.create_user("ops", password="right-pw", is_staff=True)
    client, ip = Client(), _ip()
    codes = [_login(client, "ops", "wrong", ip).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]
    # Locked out: even the right password is refused, and no session is made.
    assert _login(client, "ops", "right-pw", ip).status_code == 429
    assert "_auth_user_id" not in client.session
    # Another address is not locked out by this one's failures.
    assert _login(Client(), "ops", "right-pw", _ip()).status_code == 302
    actions = [action for action, _ in _actions()]
    assert actions.count("staff.login_failed") == 6
    assert actions.count("staff.locked_out") >= 1
    assert actions[-1] == "staff.login"
    assert "right-pw" not in str(list(LedgerEvent.objects.values()))


@pytest.mark.django_db
def test_the_login_post_is_rate_limited_per_address(settings: Any) -> None:
    settings.LOGIN_RATE_LIMIT = "3/m"
    settings.AXES_FAILURE_LIMIT = 100
    client, ip = Client(), _ip()
    codes = [_login(client, f"nobody-{n}", "x", ip).status_code for n in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = _login(client, "nobody-9", "x", ip)
    assert (refused.status_code, refused["Retry-After"]) == (429, "60")
    # The login page itself (GET) is not counted.
    assert client.get("/admin/login/", REMOTE_ADDR=ip).status_code == 200


@pytest.mark.django_db
def test_client_login_without_a_request_is_not_counted(django_user_model: Any) -> None:
    django_user_model.objects.create_user("ops", password="pw")
    client = Client()
    assert client.login(username="ops", password="pw") is True


@pytest.mark.django_db
def test_a_superuser_needs_a_totp_code_when_required(django_user_model: Any, settings: Any) -> None:
    settings.OTP_REQUIRED_FOR_SUPERUSERS = True
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # no wait after the wrong code below
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(admin)
    response = client.get("/admin/")
    assert (response.status_code, response["Location"]) == (302, "/otp/verify/?next=%2Fadmin%2F")
    page = client.get("/otp/verify/?next=/admin/")
    assert "otp_totp_add" in page.content.decode()
    # Machine paths are not staff pages.
    assert client.get("/healthz").status_code == 200

    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    wrong = client.post("/otp/verify/", {"otp_device": device.persistent_id, "otp_token": "000000"})
    assert wrong.status_code == 200
    assert client.get("/admin/").status_code == 302
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    right = client.post(
        "/otp/verify/", {"otp_device": device.persistent_id, "otp_token": code, "next": "/admin/"}
    )
    assert (right.status_code, right["Location"]) == (302, "/admin/")
    assert client.get("/admin/").status_code == 200
    assert [a for a, _ in _actions(subject_id=str(admin.pk)) if "otp" in a] == [
        "staff.otp_failed",
        "staff.otp_verified",
    ]


@pytest.mark.django_db
def test_staff_without_a_device_are_not_asked_by_default(django_user_model: Any) -> None:
    clerk = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    for user in (clerk, admin):
        client = Client()
        client.force_login(user)
        assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_staff_who_enrolled_a_device_must_use_it(django_user_model: Any, capsys: Any) -> None:
    clerk = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    call_command("otp_totp_add", "clerk", "--no-qr")
    url = capsys.readouterr().out.strip()
    assert url.startswith("otpauth://totp/")
    assert "secret=" in url
    assert TOTPDevice.objects.filter(user=clerk, confirmed=True).count() == 1
    client = Client()
    client.force_login(clerk)
    assert client.get("/admin/")["Location"] == "/otp/verify/?next=%2Fadmin%2F"
    assert _actions(action="staff.otp_enrolled") == [
        ("staff.otp_enrolled", "manage.py otp_totp_add")
    ]
    # The device secret is printed to the terminal only, never stored in the ledger.
    secret = url.split("secret=")[1].split("&")[0]
    assert secret not in str(list(LedgerEvent.objects.values()))


@pytest.mark.django_db
def test_permission_and_access_changes_are_ledger_events(django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("ana", password="pw")
    group = Group.objects.create(name="warehouse managers")
    permission = Permission.objects.get(codename="view_order")
    user.is_staff = True
    user.save()
    user.groups.add(group)
    group.permissions.add(permission)
    user.user_permissions.add(permission)
    user.groups.remove(group)
    user.groups.clear()
    events = LedgerEvent.objects.filter(source_system="orderhub:auth").order_by("id")
    summary = [
        (e.action, e.subject_type, e.after.get("relation"), e.after.get("change")) for e in events
    ]
    assert summary == [
        ("staff.access_changed", "user", None, None),
        ("staff.permissions_changed", "user", "groups", "added"),
        ("staff.permissions_changed", "group", "group_permissions", "added"),
        ("staff.permissions_changed", "user", "user_permissions", "added"),
        ("staff.permissions_changed", "user", "groups", "removed"),
        ("staff.permissions_changed", "user", "groups", "cleared"),
    ]
    assert events[0].before == {"is_active": True, "is_staff": False, "is_superuser": False}
    assert events[1].after["items"] == ["warehouse managers"]
    assert events[5].after["items"] == []


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/admin/login/", "/trace/", "/admin/", "/otp/verify/"])
def test_every_page_has_a_content_security_policy_without_inline_script(
    django_user_model: Any, path: str
) -> None:
    client = Client()
    if path != "/admin/login/":
        client.force_login(django_user_model.objects.create_superuser("root", "r@e.com", "pw"))
    response = client.get(path)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    html = response.content.decode()
    assert "onchange=" not in html
    assert "onclick=" not in html
    assert "<script>" not in html  # every script is a file (src=...)
