"""The public customer pages: no login, a token or order number + phone tail, rate-limited.

Unknown, expired and wrong answers are one and the same page (``_not_found``), byte for byte,
so nothing can be enumerated. No CSRF cookie: the pages hold no session; the link's token is
the only credential.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import get_language_from_request
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited

from orderhub.customers.choices import ReviewStatus, TokenPurpose
from orderhub.customers.exceptions import CustomerActionError
from orderhub.customers.models import RiskReview
from orderhub.customers.selectors import public_order
from orderhub.customers.services.confirmation import confirmation_confirm, confirmation_refuse
from orderhub.customers.services.risk import risk_review_purpose_set
from orderhub.customers.services.tokens import access_token_find, token_hash
from orderhub.models import Order


def customer_language(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Speak the customer's language: ``?lang=`` (the page's switch links), else the browser's
    (these paths carry no language prefix, so the middleware would use the default)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wanted = request.GET.get("lang", "")
        languages = dict(settings.LANGUAGES)
        language = wanted if wanted in languages else get_language_from_request(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        return view(request, *args, **kwargs)

    return wrapped


def _ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


def _limited(request: HttpRequest, *, group: str, order_key: str) -> bool:
    """Counts one hit per IP and one per order (``order_key``); True when either is over."""
    by_ip = is_ratelimited(
        request, group=f"{group}.ip", key="ip", rate=settings.PUBLIC_RATE_PER_IP, increment=True
    )
    by_order = is_ratelimited(
        request,
        group=f"{group}.order",
        key=lambda _group, _request: order_key,
        rate=settings.PUBLIC_RATE_PER_ORDER,
        increment=True,
    )
    return bool(by_ip or by_order)


def _too_many(request: HttpRequest) -> HttpResponse:
    return render(request, "public/too_many.html", status=429)


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "public/not_found.html", status=404)


@csrf_exempt
@never_cache
@customer_language
@require_http_methods(["GET", "POST"])
def confirm_page(request: HttpRequest, token: str) -> HttpResponse:
    if _limited(request, group="public.confirm", order_key=token_hash(token)):
        return _too_many(request)
    now = timezone.now()
    found = access_token_find(token=token, purpose=TokenPurpose.CONFIRM, now=now)
    if found is None or found.confirmation is None:
        return _not_found(request)
    confirmation = found.confirmation
    error = ""
    if request.method == "POST" and confirmation.is_open:
        device = {"user_agent": request.META.get("HTTP_USER_AGENT", ""), "ip": _ip(request)}
        try:
            if request.POST.get("action") == "confirm":
                confirmation = confirmation_confirm(
                    confirmation_id=confirmation.pk, now=now, **device
                )
            elif request.POST.get("action") == "refuse":
                confirmation = confirmation_refuse(
                    confirmation_id=confirmation.pk,
                    reason=request.POST.get("reason", ""),
                    now=now,
                    **device,
                )
        except CustomerActionError:
            error = "reason"
    order = Order.objects.get(pk=found.order_id)
    return render(
        request,
        "public/confirm.html",
        {"confirmation": confirmation, "view": public_order(order, now=now), "error": error},
    )


@csrf_exempt
@never_cache
@customer_language
@require_http_methods(["GET", "POST"])
def order_page(request: HttpRequest, token: str) -> HttpResponse:
    if _limited(request, group="public.order", order_key=token_hash(token)):
        return _too_many(request)
    now = timezone.now()
    found = access_token_find(token=token, purpose=TokenPurpose.ORDER, now=now)
    if found is None:
        return _not_found(request)
    if request.method == "POST":
        risk_review_purpose_set(
            order_id=found.order_id, purpose=request.POST.get("purpose", ""), now=now
        )
    order = Order.objects.get(pk=found.order_id)
    review = RiskReview.objects.filter(order_id=order.pk, status=ReviewStatus.OPEN).first()
    return render(
        request,
        "public/order.html",
        {
            "view": public_order(order, now=now),
            "ask_purpose": review is not None and not review.purpose,
        },
    )


@csrf_exempt
@never_cache
@customer_language
@require_http_methods(["GET", "POST"])
def order_lookup(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "public/lookup.html")
    number = request.POST.get("order_number", "").strip()[:128]
    tail = request.POST.get("phone_tail", "").strip()[:4]
    if _limited(request, group="public.lookup", order_key=number):
        return _too_many(request)
    orders = list(
        Order.objects.filter(external_id=number, phone_tail=tail)[:2] if number and tail else []
    )
    if len(orders) != 1 or len(tail) != 4:
        return _not_found(request)
    return render(request, "public/order.html", {"view": public_order(orders[0])})
