"""The doors: login lockout, staff two-factor, rate limits, and the audit of who got in.

Signals are used here on purpose, and only here: logins, lockouts and permission changes are
audit records of what Django's auth and django-axes did, not business flow. Each receiver
appends one ledger event in the caller's transaction (autocommit outside one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django_ratelimit.core import is_ratelimited
from redis.exceptions import RedisError

from traceability.services import ledger_append

logger = logging.getLogger(__name__)

SOURCE = "orderhub:auth"


# --- lockout ----------------------------------------------------------------------------------
class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check for logins that come with an HTTP request.

    ``authenticate()`` without a request (a management command, ``Client.login`` in tests)
    cannot be brute-forced from the network, so it is not counted or refused here; the web
    login forms always pass the request.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        super().authenticate(request, username=username, password=password, **kwargs)
        return None


# --- two-factor -------------------------------------------------------------------------------
def otp_required(user: Any) -> bool:
    """Whether this user must pass a TOTP code before staff pages: superusers when
    OTP_REQUIRED_FOR_SUPERUSERS (production), every staff user when OTP_REQUIRED_FOR_STAFF,
    and any staff user who has enrolled a confirmed device."""
    if not getattr(user, "is_authenticated", False) or not user.is_staff:
        return False
    if user.is_superuser and settings.OTP_REQUIRED_FOR_SUPERUSERS:
        return True
    if settings.OTP_REQUIRED_FOR_STAFF:
        return True
    from django_otp import user_has_device

    return bool(user_has_device(user, confirmed=True))


class StaffOTPMiddleware:
    """Sends a staff user who must use two-factor but has not verified this session to the
    verification page. Machine paths (API with token auth, webhooks, health, static) pass:
    they do not use the staff session."""

    OPEN_PREFIXES = ("/hooks/", "/api/v1/", "/api/schema/", "/healthz", "/static/", "/i18n/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = request.path_info
        if not path.startswith(self.OPEN_PREFIXES) and not _is_otp_exempt(path):
            user = request.user
            if otp_required(user) and not user.is_verified():  # type: ignore[union-attr]
                query = urlencode({"next": request.get_full_path()})
                return HttpResponseRedirect(f"{reverse('otp_verify')}?{query}")
        return self.get_response(request)


def _is_otp_exempt(path: str) -> bool:
    return path in {reverse("otp_verify"), reverse("admin:logout"), reverse("admin:login")}


def otp_verify_view(request: HttpRequest) -> HttpResponse:
    """Asks a logged-in staff user for the code of their TOTP device."""
    from django_otp import login as otp_login
    from django_otp.forms import OTPTokenForm

    user = request.user
    if not user.is_authenticated:
        return HttpResponseRedirect(reverse("admin:login"))
    next_url = request.POST.get("next") or request.GET.get("next") or reverse("admin:index")
    if not next_url.startswith("/") or next_url.startswith("//"):
        next_url = reverse("admin:index")
    form = OTPTokenForm(user, request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        otp_login(request, user.otp_device)  # type: ignore[attr-defined]
        ledger_append(
            action="staff.otp_verified",
            actor=user.get_username(),
            subject_type="user",
            subject_id=user.pk,
            source_system=SOURCE,
            references={"ip": _client_ip(request)},
        )
        return HttpResponseRedirect(next_url)
    if request.method == "POST":
        ledger_append(
            action="staff.otp_failed",
            actor=user.get_username(),
            subject_type="user",
            subject_id=user.pk,
            source_system=SOURCE,
            references={"ip": _client_ip(request)},
        )
    from django_otp import user_has_device

    context = {
        "form": form,
        "next": next_url,
        "has_device": user_has_device(user, confirmed=True),
        "title": _("Two-factor verification"),
        "site_header": "OrderHub",
    }
    return render(request, "orderhub/otp_verify.html", context)


# --- rate limits ------------------------------------------------------------------------------
def rate_limited_view(request: HttpRequest, exception: Exception) -> HttpResponse:
    """What a client over a PUBLIC_RATE_LIMIT / LOGIN_RATE_LIMIT sees."""
    return HttpResponse(
        _("Too many requests. Please wait a minute and try again."),
        status=429,
        content_type="text/plain; charset=utf-8",
        headers={"Retry-After": "60"},
    )


def _over_limit(
    request: HttpRequest, *, group: str, rate: str, keys: Sequence[str], methods: Sequence[str]
) -> bool:
    """Counts this request against each key; True when any is over ``rate``. Fails open
    (logs, lets the request through) when the shared counter store cannot be reached: a Redis
    outage must not lock every customer and every staff member out."""
    try:
        over = [
            is_ratelimited(
                request, group=group, key=key, rate=rate, method=list(methods), increment=True
            )
            for key in keys
        ]
    except RedisError:
        logger.warning("security.ratelimit.store_unavailable group=%s", group)
        return False
    return any(over)


def public_rate_limit(
    group: str,
    *,
    key: str = "",
    rate_setting: str = "PUBLIC_RATE_LIMIT",
    methods: Sequence[str] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"),
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Decorates a public view: at most ``settings.<rate_setting>`` requests per client IP,
    and, when ``key`` names a request field (``post:username``, ``get:token``, a callable's
    dotted path), per value of that field; only ``methods`` count. Over the limit: 429 with
    Retry-After. A rate of "0" turns the limit off."""

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            rate = str(getattr(settings, rate_setting))
            if rate and rate != "0":
                keys = ["ip", key] if key else ["ip"]
                if _over_limit(request, group=group, rate=rate, keys=keys, methods=methods):
                    logger.info("security.ratelimit.refused group=%s", group)
                    return rate_limited_view(request, Exception(group))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


# --- audit receivers (connected in OrderHubConfig.ready) --------------------------------------
def _client_ip(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR", ""))


def _current_actor() -> str:
    """The staff member whose request is running (simple-history's request middleware keeps
    it), else the system."""
    from simple_history.models import HistoricalRecords

    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return str(user.get_username())
    return "system"


def _from_the_network(request: HttpRequest | None) -> bool:
    """A login or logout that came in an HTTP request. The test client's ``force_login`` /
    ``logout`` build a bare request without a method: no one logged in over the network."""
    return request is not None and request.method is not None


def on_logged_in(
    sender: Any, request: HttpRequest | None, user: AbstractBaseUser, **_: Any
) -> None:
    if not _from_the_network(request):
        return
    ledger_append(
        action="staff.login",
        actor=user.get_username(),
        subject_type="user",
        subject_id=user.pk,
        source_system=SOURCE,
        references={"ip": _client_ip(request)},
    )


def on_logged_out(
    sender: Any,
    request: HttpRequest | None,
    user: AbstractBaseUser | AnonymousUser | None,
    **_: Any,
) -> None:
    if user is None or not user.is_authenticated or not _from_the_network(request):
        return
    ledger_append(
        action="staff.logout",
        actor=user.get_username(),
        subject_type="user",
        subject_id=user.pk,
        source_system=SOURCE,
        references={"ip": _client_ip(request)},
    )


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any
) -> None:
    # Django already replaces the password in ``credentials``; only the username is kept.
    username = str(credentials.get("username", ""))[:150]
    ledger_append(
        action="staff.login_failed",
        actor=username or "anonymous",
        subject_type="user",
        subject_id=username,
        source_system=SOURCE,
        references={"ip": _client_ip(request)},
    )


def on_locked_out(
    sender: Any, request: HttpRequest | None, username: str | None, ip_address: str, **_: Any
) -> None:
    ledger_append(
        action="staff.locked_out",
        actor=(username or "anonymous")[:150],
        subject_type="user",
        subject_id=(username or "")[:64],
        source_system=SOURCE,
        after={"failure_limit": settings.AXES_FAILURE_LIMIT},
        references={"ip": ip_address},
    )


_FLAGS = ("is_active", "is_staff", "is_superuser")


def on_user_pre_save(
    sender: Any, instance: Any, update_fields: frozenset[str] | None = None, **_: Any
) -> None:
    """Remembers the access flags the row had, for on_user_post_save (not read when the save
    names fields none of which is a flag, as the login's ``last_login`` update does)."""
    if update_fields is not None and not set(update_fields) & set(_FLAGS):
        instance._access_before = None
        return
    if instance.pk is None:
        instance._access_before = {}
        return
    row = sender.objects.filter(pk=instance.pk).values(*_FLAGS).first()
    instance._access_before = row or {}


def on_user_post_save(sender: Any, instance: Any, created: bool, **_: Any) -> None:
    before: dict[str, Any] | None = getattr(instance, "_access_before", None)
    if before is None:
        return
    after = {flag: getattr(instance, flag) for flag in _FLAGS}
    if created and not (instance.is_staff or instance.is_superuser):
        return  # an account without staff access is no access change
    if created and _current_actor() == "system":
        # Accounts made outside a staff request (createsuperuser, the demo data, fixtures)
        # are set up by whoever runs the server; the admin's "add user" is recorded.
        return
    if not created and before == after:
        return
    ledger_append(
        action="staff.user_created" if created else "staff.access_changed",
        actor=_current_actor(),
        subject_type="user",
        subject_id=instance.pk,
        source_system=SOURCE,
        before=before,
        after={"username": instance.get_username(), **after},
    )


def on_m2m_changed(
    sender: Any,
    instance: Any,
    action: str,
    reverse: bool,
    model: Any,
    pk_set: set[int] | None,
    **_: Any,
) -> None:
    """Group memberships, user permissions and group permissions, added / removed / cleared."""
    if action not in {"post_add", "post_remove", "pre_clear"}:
        return
    user_model = get_user_model()
    relations = {
        user_model.groups.through: "groups",
        user_model.user_permissions.through: "user_permissions",
        Group.permissions.through: "group_permissions",
    }
    relation = relations.get(sender)
    if relation is None:
        return
    if action == "pre_clear":
        if reverse:
            return
        field = {"groups": "groups", "user_permissions": "user_permissions"}.get(
            relation, "permissions"
        )
        names = sorted(str(item) for item in getattr(instance, field).all())
    else:
        names = sorted(str(item) for item in model.objects.filter(pk__in=pk_set or ()))
    # Forward: a user or group changed; reverse: the group or permission whose holders changed.
    subject_type = type(instance)._meta.model_name or ""
    verb = {"post_add": "added", "post_remove": "removed", "pre_clear": "cleared"}[action]
    ledger_append(
        action="staff.permissions_changed",
        actor=_current_actor(),
        subject_type=subject_type,
        subject_id=instance.pk,
        source_system=SOURCE,
        after={"relation": relation, "change": verb, "items": names, "of": str(instance)},
    )


def connect_receivers() -> None:
    from axes.signals import user_locked_out
    from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
    from django.db.models.signals import m2m_changed, post_save, pre_save

    user_model = get_user_model()
    user_logged_in.connect(on_logged_in, dispatch_uid="orderhub.security.logged_in")
    user_logged_out.connect(on_logged_out, dispatch_uid="orderhub.security.logged_out")
    user_login_failed.connect(on_login_failed, dispatch_uid="orderhub.security.login_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="orderhub.security.locked_out")
    pre_save.connect(on_user_pre_save, sender=user_model, dispatch_uid="orderhub.security.pre")
    post_save.connect(on_user_post_save, sender=user_model, dispatch_uid="orderhub.security.post")
    for through in (
        user_model.groups.through,
        user_model.user_permissions.through,
        Group.permissions.through,
    ):
        m2m_changed.connect(
            on_m2m_changed, sender=through, dispatch_uid=f"orderhub.security.m2m.{through}"
        )
