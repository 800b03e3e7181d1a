"""The webhook intake endpoint. Parses the HTTP request, calls one service, answers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from channels_app.adapters.base import HookResponse
from channels_app.services.intake import quarantine_store
from channels_app.services.journal import DATABASE_DOWN_ERRORS, delivery_receive

logger = logging.getLogger(__name__)

# How much of an oversized body is kept in quarantine as evidence.
_OVERSIZE_KEPT_BYTES = 64 * 1024
TOO_LARGE = HookResponse(413, b'{"error":"body too large"}')


def _too_large(code: str, headers: Mapping[str, str], body: bytes, size: str) -> HookResponse:
    try:
        quarantine_store(
            account_code=code,
            reason=f"body larger than {settings.WEBHOOK_MAX_BODY_BYTES} bytes ({size})",
            headers=headers,
            body=body[:_OVERSIZE_KEPT_BYTES],
            received_at=timezone.now(),
            response_status=413,
        )
    except DATABASE_DOWN_ERRORS:  # refused either way; only the evidence is not kept
        logger.warning("channels.intake.oversize_not_kept code=%s", code)
    return TOO_LARGE


def hook_deliver(
    *,
    code: str,
    headers: Mapping[str, str],
    declared_length: str,
    read: Callable[[int], bytes],
    query: Mapping[str, str],
) -> HookResponse:
    """One webhook delivery, whichever HTTP layer received it: size limit, then intake.

    ``headers`` have lower-case names; ``read(n)`` reads at most n bytes of the body.
    """
    received_at = timezone.now()
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    if declared_length.isdigit() and int(declared_length) > limit:
        return _too_large(code, headers, read(_OVERSIZE_KEPT_BYTES), f"{declared_length} declared")
    body = read(limit + 1)
    if len(body) > limit:
        return _too_large(code, headers, body, "read")
    return delivery_receive(
        code=code, body=body, headers=headers, query=query, received_at=received_at
    )


# CSRF does not apply: every delivery is authenticated by the platform's own signature.
@csrf_exempt
@require_POST
def webhook(request: HttpRequest, code: str) -> HttpResponse:
    """``POST /hooks/<code>/``: verify, store raw, answer as the platform expects."""
    response = hook_deliver(
        code=code,
        headers={name.lower(): value for name, value in request.headers.items()},
        declared_length=request.META.get("CONTENT_LENGTH") or "",
        read=request.read,
        query={key: request.GET.get(key, "") for key in request.GET},
    )
    return HttpResponse(response.body, status=response.status, content_type=response.content_type)
