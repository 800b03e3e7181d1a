"""Webhook intake: verify on the raw bytes, store first, answer fast.

No JSON-to-model work and no broker call happen here: intake keeps working with the broker
down, and workers find pending messages by polling (``processing.inbox_claim``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone
from psycopg import sql

from channels_app.adapters.base import (
    AccountConfig,
    HookResponse,
    InboundRequest,
    VerificationError,
    Verified,
    adapters,
)
from channels_app.crypto import SecretsDecryptError
from channels_app.models import ChannelAccount, InboundMessage, InboxSource, QuarantinedDelivery
from channels_app.selectors import account_config
from orderhub.sql import prepared_cursor
from traceability.services import ledger_append_returning_sql

logger = logging.getLogger(__name__)

NOT_FOUND = HookResponse(status=404, body=b'{"error":"unknown channel"}')
UNAVAILABLE = HookResponse(status=503, body=b'{"error":"temporarily unavailable"}')
# Headers never worth keeping (hop-by-hop or our own proxy's).
_DROPPED_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "cookie"})


@dataclass(frozen=True, slots=True)
class IntakeResult:
    response: HookResponse
    message_id: int | None = None
    created: bool = False
    quarantine_id: int | None = None
    reason: str = ""


def _text(value: str, limit: int) -> str:
    """Text PostgreSQL accepts: no NUL, no lone surrogate, bounded length."""
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode()[:limit]


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        _text(name.lower(), 200): _text(value, 4000)
        for name, value in headers.items()
        if name.lower() not in _DROPPED_HEADERS
    }


def quarantine_store(
    *,
    account_code: str,
    reason: str,
    headers: Mapping[str, str],
    body: bytes,
    received_at: datetime,
    response_status: int,
) -> QuarantinedDelivery:
    """Keep a delivery that failed verification, with the reason. One INSERT, autocommit."""
    return QuarantinedDelivery.objects.create(
        account_code=_text(account_code, 64),
        reason=_text(reason, 500),
        headers=_kept_headers(headers),
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        response_status=response_status,
        received_at=received_at,
    )


# The storing statement: the message, and for a new one its ledger event, in ONE statement.
# Parameters are positional (``%s``) because the ledger part brings its own, in its order.
_STORE = sql.SQL("""
WITH stored AS (
    INSERT INTO {messages} AS m
        (account_id, delivery_id, dedupe_key, event_type, headers, body, payload, body_sha256,
         received_at, source, actor, status, attempts, next_attempt_at, duplicate_count, reason,
         override_credibility, order_ids)
    SELECT a.id, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, 0, %s, 0, '', false,
           '[]'::jsonb
    FROM {accounts} AS a
    WHERE a.id = %s{guard}
    ON CONFLICT (account_id, dedupe_key) DO UPDATE
        SET duplicate_count = m.duplicate_count + 1, last_duplicate_at = EXCLUDED.received_at
    RETURNING id, (xmax = 0) AS inserted
), new_message AS (
    SELECT id FROM stored WHERE inserted
), ledger AS (
    {ledger}
)
SELECT id, inserted FROM stored
""")
# The webhook path stores only if the account is as the caller read it: enabled and unchanged.
_GUARD = sql.SQL(
    " AND a.kind = %s AND a.code = %s AND a.enabled AND a.options = %s::jsonb"
    " AND a.secrets_encrypted = %s"
)


def _store_statement(*, guard: bool) -> str:
    """The storing statement as text, composed once per process (a constant statement is what
    PostgreSQL keeps prepared)."""
    ledger = ledger_append_returning_sql(
        rows="new_message",
        subject_id="new_message.id::text",
        references=(
            "jsonb_build_object('message_id', new_message.id, 'sha256', %s::text, "
            "'delivery_id', %s::text)"
        ),
    )
    return _STORE.format(
        messages=sql.Identifier(InboundMessage._meta.db_table),
        accounts=sql.Identifier(ChannelAccount._meta.db_table),
        guard=_GUARD if guard else sql.SQL(""),
        ledger=sql.SQL(ledger),
    ).as_string(None)


_INSERT = _store_statement(guard=False)
_INSERT_GUARDED = _store_statement(guard=True)


class AccountChanged(Exception):
    """The account is gone or, for a guarded store, no longer as the caller read it."""


def inbound_message_store(
    *,
    account: ChannelAccount,
    verified: Verified,
    body: bytes,
    headers: Mapping[str, str],
    received_at: datetime,
    source: str = InboxSource.WEBHOOK,
    actor: str = "",
    guard: bool = False,
) -> tuple[int, bool]:
    """Store a verified delivery once: (message id, created).

    A redelivery (same account and delivery id, or same body hash when the platform sends no
    id) increments ``duplicate_count`` on the existing row in the same statement (ON CONFLICT),
    so concurrent duplicates cannot create two rows. Handshakes (``process=False``) are stored
    as ``ignored``. A new message and its ``intake.received`` ledger event are written by ONE
    statement (atomic on its own, one round trip). With ``guard`` the statement stores only if
    the account is still enabled and exactly as ``account`` holds it; otherwise, or when the
    account is gone, nothing is stored and ``AccountChanged`` is raised.
    """
    body_sha256 = hashlib.sha256(body).hexdigest()
    delivery_id = _text(verified.delivery_id, 255)
    dedupe_key = delivery_id or f"sha256:{body_sha256}"
    status = "pending" if verified.process else "ignored"
    checked = (
        [account.kind, account.code, json.dumps(account.options), account.secrets_encrypted]
        if guard
        else []
    )
    with prepared_cursor() as cursor:
        cursor.execute(
            _INSERT_GUARDED if guard else _INSERT,
            [
                delivery_id,
                dedupe_key,
                _text(verified.event_type, 128),
                json.dumps(_kept_headers(headers), ensure_ascii=False),
                body,
                verified.payload,
                body_sha256,
                received_at,
                source,
                _text(actor, 150),
                status,
                received_at,
                # the account as read
                account.pk,
                *checked,
                # the ledger event
                timezone.now(),
                _text(actor or account.code, 150),
                "intake.received",
                "inbound_message",
                _text(f"{account.kind}:{account.code}", 64),
                json.dumps({"status": status, "source": source}),
                body_sha256,
                delivery_id,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        raise AccountChanged(f"channel account {account.code!r} changed or is gone")
    return row[0], row[1]


_ACCOUNT_BY_CODE = (
    sql.SQL(
        "SELECT id, kind, code, enabled, options, secrets_encrypted FROM {accounts} WHERE code = %s"
    )
    .format(accounts=sql.Identifier(ChannelAccount._meta.db_table))
    .as_string(None)
)


def _account_by_code(code: str) -> ChannelAccount | None:
    """The account a hook names, read with one plain query (the hot path of every delivery)."""
    with connection.cursor() as cursor:
        cursor.execute(_ACCOUNT_BY_CODE, [code])
        row = cursor.fetchone()
    if row is None:
        return None
    account_id, kind, code, enabled, options, secrets_encrypted = row
    return ChannelAccount(
        id=account_id,
        kind=kind,
        code=code,
        enabled=enabled,
        # Django reads jsonb as text and decodes it in the field; a plain cursor must too.
        options=json.loads(options) if isinstance(options, str) else options,
        secrets_encrypted=secrets_encrypted,
    )


# Accounts as read by this process, by code, with their decrypted config: a delivery then costs
# no look-up. Never stale in effect: the storing statement checks the account is unchanged,
# and a delivery that fails verification against a cached account is tried again fresh.
_accounts: dict[str, tuple[ChannelAccount, AccountConfig]] = {}
_ACCOUNTS_KEPT = 512


def account_cached(code: str) -> tuple[ChannelAccount, AccountConfig] | None:
    """The account ``code`` as this process last read it, with its config; None if never."""
    return _accounts.get(code)


def webhook_receive(
    *,
    code: str,
    body: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    received_at: datetime,
) -> IntakeResult:
    """Verify a delivery for the account ``code`` and store it (or quarantine it).

    Header names must be lower-case. Unknown or disabled account → quarantined, 404. A failed
    verification → quarantined, answered with the adapter's error response. Never raises for
    hostile input; each database write is its own short transaction.
    """
    request = InboundRequest(body=body, headers=headers, query=query, received_at=received_at)
    cached = _accounts.get(code)
    if cached is not None and cached[0].kind in adapters:
        account, config = cached
        try:
            verified = adapters.get(account.kind)().verify(config, request)
        except VerificationError:
            verified = None  # maybe the secret changed since: decide on a fresh read
        if verified is not None:
            try:
                message_id, created = inbound_message_store(
                    account=account, verified=verified, body=body, headers=headers,
                    received_at=received_at, guard=True,
                )  # fmt: skip
            except AccountChanged:
                pass
            else:
                return IntakeResult(
                    response=verified.response, message_id=message_id, created=created
                )
        _accounts.pop(code, None)
    return _receive_fresh(code=code, request=request)


def _receive_fresh(*, code: str, request: InboundRequest, retried: bool = False) -> IntakeResult:
    body, headers, received_at = request.body, request.headers, request.received_at
    account = _account_by_code(code)
    if account is None or not account.enabled or account.kind not in adapters:
        reason = (
            "unknown account"
            if account is None
            else "account disabled"
            if not account.enabled
            else f"unknown kind {account.kind!r}"
        )
        row = quarantine_store(
            account_code=code,
            reason=reason,
            headers=headers,
            body=body,
            received_at=received_at,
            response_status=NOT_FOUND.status,
        )
        return IntakeResult(response=NOT_FOUND, quarantine_id=row.pk, reason=reason)
    adapter = adapters.get(account.kind)()
    try:
        config = account_config(account)
    except SecretsDecryptError as exc:
        # Our key configuration is broken, not the delivery: keep it and make the platform retry.
        row = quarantine_store(
            account_code=code,
            reason=str(exc),
            headers=headers,
            body=body,
            received_at=received_at,
            response_status=UNAVAILABLE.status,
        )
        logger.error("channels.intake.secrets_unreadable code=%s", code)
        return IntakeResult(response=UNAVAILABLE, quarantine_id=row.pk, reason=str(exc))
    try:
        verified = adapter.verify(config, request)
    except VerificationError as error:
        row = quarantine_store(
            account_code=code,
            reason=error.reason,
            headers=headers,
            body=body,
            received_at=received_at,
            response_status=error.response.status,
        )
        logger.info("channels.intake.quarantined code=%s reason=%s", code, error.reason)
        return IntakeResult(response=error.response, quarantine_id=row.pk, reason=error.reason)
    try:
        message_id, created = inbound_message_store(
            account=account, verified=verified, body=body, headers=headers,
            received_at=received_at, guard=True,
        )  # fmt: skip
    except AccountChanged:  # changed between our read and the INSERT: read it again, once
        if retried:
            return IntakeResult(response=UNAVAILABLE, reason="account kept changing")
        return _receive_fresh(code=code, request=request, retried=True)
    if len(_accounts) >= _ACCOUNTS_KEPT:
        _accounts.clear()
    _accounts[code] = (account, config)
    return IntakeResult(response=verified.response, message_id=message_id, created=created)
