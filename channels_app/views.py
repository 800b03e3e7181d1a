"""The webhook intake endpoint. Parses the HTTP request, calls one service, answers."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from channels_app.services.intake import quarantine_store, webhook_receive

# How much of an oversized body is kept in quarantine as evidence.
_OVERSIZE_KEPT_BYTES = 64 * 1024


def _too_large(code: str, headers: dict[str, str], body: bytes, size: str) -> HttpResponse:
    quarantine_store(
        account_code=code,
        reason=f"body larger than {settings.WEBHOOK_MAX_BODY_BYTES} bytes ({size})",
        headers=headers,
        body=body[:_OVERSIZE_KEPT_BYTES],
        received_at=timezone.now(),
        response_status=413,
    )
    return HttpResponse(b'{"error":"body too large"}', status=413, content_type="application/json")


# CSRF does not apply: every delivery is authenticated by the platform's own signature.
@csrf_exempt
@require_POST
def webhook(request: HttpRequest, code: str) -> HttpResponse:
    """``POST /hooks/<code>/``: verify, store raw, answer as the platform expects."""
    received_at = timezone.now()
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    headers = {name.lower(): value for name, value in request.headers.items()}
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        return _too_large(code, headers, request.read(_OVERSIZE_KEPT_BYTES), f"{declared} declared")
    body = request.read(limit + 1)
    if len(body) > limit:
        return _too_large(code, headers, body, "read")
    query = {key: request.GET.get(key, "") for key in request.GET}
    result = webhook_receive(
        code=code, body=body, headers=headers, query=query, received_at=received_at
    )
    return HttpResponse(
        result.response.body,
        status=result.response.status,
        content_type=result.response.content_type,
    )
