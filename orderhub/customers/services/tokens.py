"""Unguessable links for customers: the token goes into the message, only its hash is kept."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from orderhub.customers.choices import TokenPurpose
from orderhub.customers.models import AccessToken, ConfirmationRequest


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def access_token_create(
    *,
    order_id: int,
    purpose: str,
    now: datetime,
    expires_at: datetime,
    confirmation: ConfirmationRequest | None = None,
) -> str:
    """A new token for ``order_id``'s page ``purpose``; returns the token (never stored)."""
    token = secrets.token_urlsafe(32)
    AccessToken.objects.create(
        token_hash=token_hash(token),
        purpose=purpose,
        order_id=order_id,
        confirmation=confirmation,
        created_at=now,
        expires_at=expires_at,
    )
    return token


def access_token_find(*, token: str, purpose: str, now: datetime) -> AccessToken | None:
    """The live token row of ``token`` for ``purpose``, or None (unknown, expired, other)."""
    if not token or len(token) > 100:
        return None
    return (
        AccessToken.objects.select_related("order", "confirmation")
        .filter(token_hash=token_hash(token), purpose=purpose, expires_at__gt=now)
        .first()
    )


def order_link_create(*, order_id: int, now: datetime) -> str:
    """A new ``/o/<token>/`` link to the order's public page (valid ``ORDER_LINK_DAYS``)."""
    token = access_token_create(
        order_id=order_id,
        purpose=TokenPurpose.ORDER,
        now=now,
        expires_at=now + timedelta(days=settings.ORDER_LINK_DAYS),
    )
    return f"{settings.PUBLIC_BASE_URL}/o/{token}/"
