"""The facts API's receiving side: authenticate, validate, store the raw facts, answer.

``facts_accept`` is what both HTTP layers call (the WSGI edge for ``Authorization: Token``
requests, the DRF view for the others). It validates the body in plain Python (400 naming the
field), then stores every new fact of the request as a ``received`` receipt with ONE prepared
statement that also

- checks that the reporter may still report: the account is enabled and as this process read
  it, the user is active and a reporter of the account (or a superuser), and, on the token
  path, the token still exists (so a revoked token or a disabled account stops working with
  the next request although both are cached per process);
- looks the named orders up: an order id that does not exist is a 400, an order of another
  warehouse (for a WMS) a 403, and then nothing is stored;
- reads the stored answers of keys seen before (answered again, status 200, nothing written).

Applying the stored facts is ``system_facts_apply_received``'s job (the worker, in batches).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from psycopg import sql
from rest_framework.authtoken.models import Token

from channels_app.models import ChannelAccount, SystemFactReceipt, SystemReporter
from channels_app.services.system_facts import (
    BATCH_LIMIT,
    SystemFactsForbiddenError,
    system_account_check,
    system_account_get,
)
from orderhub.exceptions import OrderDataError
from orderhub.models import Order, Warehouse
from orderhub.sql import prepared_cursor
from orderhub.validation import time_check

# Largest request body the facts API reads (500 facts of a few hundred bytes fit easily).
MAX_BODY_BYTES = 2 * 1024 * 1024
# Entries each per-process cache holds at most (cleared when full).
_CACHE_LIMIT = 10_000
_BIGINT_MAX = 2**63 - 1

_FIELDS: dict[str, int] = {
    "key": 128,
    "system": 64,
    "raw_status": 128,
    "carrier": 64,
    "tracking_number": 64,
}
_OPTIONAL = frozenset({"carrier", "tracking_number"})
REQUIRED = "This field is required."
NOT_A_STRING = "Not a valid string."
BLANK = "This field may not be blank."
NUL = "Null characters are not allowed."
NOT_UTF8 = "The text is not valid Unicode (a lone surrogate)."
TIME_INVALID = "Give an ISO 8601 time with a UTC offset, e.g. 2026-05-01T10:00:00+08:00."
TIME_NAIVE = "The time has no UTC offset."


@dataclass(frozen=True, slots=True)
class Principal:
    """Who reports: the user, and the token it presented (``""`` when authenticated another
    way, e.g. a session)."""

    user_id: int
    username: str
    is_superuser: bool
    token: str = ""


@dataclass(frozen=True, slots=True)
class FactsAnswer:
    """The HTTP answer: status and JSON body (bytes)."""

    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class _Item:
    key: str
    order_id: int | None
    channel: str
    external_id: str
    pending: dict[str, str]


@dataclass(frozen=True, slots=True)
class _AccountSeen:
    account: ChannelAccount
    options: str
    scope_id: int | None


def _answer(status: int, body: Any) -> FactsAnswer:
    return FactsAnswer(status, json.dumps(body, ensure_ascii=False).encode())


def _detail(status: int, detail: str) -> FactsAnswer:
    return _answer(status, {"detail": detail})


# -- validation (pure) ------------------------------------------------------------------------


def _unstorable(value: str) -> str:
    """Why PostgreSQL could not store this text ("" when it can)."""
    if "\x00" in value:
        return NUL
    try:
        value.encode()
    except UnicodeEncodeError:
        return NOT_UTF8
    return ""


def _text(value: Any, name: str, errors: dict[str, list[str]]) -> str:
    """A CharField as DRF checks it (trimmed, not blank, within its length)."""
    if value is None or isinstance(value, bool) or not isinstance(value, str):
        errors[name] = [NOT_A_STRING if value is not None else "This field may not be null."]
        return ""
    if problem := _unstorable(value):
        errors[name] = [problem]
        return ""
    value = value.strip()
    if not value and name not in _OPTIONAL:
        errors[name] = [BLANK]
    elif len(value) > _FIELDS[name]:
        errors[name] = [f"Ensure this field has no more than {_FIELDS[name]} characters."]
    return value


def _order_ref(value: Any, errors: dict[str, list[str]]) -> tuple[int | None, str, str]:
    if not isinstance(value, dict):
        errors["order"] = ["Give id, or both channel and external_id."]
        return None, "", ""
    if "id" in value:
        order_id = value["id"]
        if "channel" in value or "external_id" in value:
            errors["order"] = ["Give either id or channel and external_id."]
        elif isinstance(order_id, bool) or not isinstance(order_id, int):
            errors["order"] = ["id: A valid integer is required."]
        elif not 1 <= order_id <= _BIGINT_MAX:
            errors["order"] = ["id: Ensure this value is between 1 and 2^63-1."]
        else:
            return order_id, "", ""
        return None, "", ""
    parts: dict[str, str] = {}
    for name, limit in (("channel", 64), ("external_id", 128)):
        part = value.get(name)
        if not isinstance(part, str) or not part.strip() or _unstorable(part):
            errors["order"] = ["Give id, or both channel and external_id."]
            return None, "", ""
        if len(part.strip()) > limit:
            errors["order"] = [f"{name}: Ensure this field has no more than {limit} characters."]
            return None, "", ""
        parts[name] = part.strip()
    return None, parts["channel"], parts["external_id"]


def _occurred_at(value: Any, errors: dict[str, list[str]]) -> str:
    if not isinstance(value, str) or _unstorable(value):
        errors["occurred_at"] = [TIME_INVALID]
        return ""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        errors["occurred_at"] = [TIME_INVALID]
        return ""
    if parsed.utcoffset() is None:
        errors["occurred_at"] = [TIME_NAIVE]
        return ""
    try:
        time_check(field="occurred_at", value=parsed)
    except OrderDataError as error:
        errors["occurred_at"] = [error.message]
        return ""
    return parsed.isoformat()


def fact_validate(raw: Any) -> tuple[str, _Item | None, dict[str, list[str]]]:
    """(system, the fact, errors by field) of one reported fact; the fact is None when
    something is wrong. Checks what the OpenAPI schema says, without touching the database."""
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        return "", None, {"non_field_errors": ["Give each fact as a JSON object."]}
    values: dict[str, str] = {}
    for name in _FIELDS:
        if name not in raw:
            if name not in _OPTIONAL:
                errors[name] = [REQUIRED]
            values[name] = ""
            continue
        values[name] = _text(raw[name], name, errors)
    if "order" not in raw:
        errors["order"] = [REQUIRED]
        order_id, channel, external_id = None, "", ""
    else:
        order_id, channel, external_id = _order_ref(raw["order"], errors)
    occurred_at = ""
    if "occurred_at" not in raw:
        errors["occurred_at"] = [REQUIRED]
    else:
        occurred_at = _occurred_at(raw["occurred_at"], errors)
    if errors:
        return values["system"], None, errors
    pending = {
        "raw_status": values["raw_status"],
        "occurred_at": occurred_at,
        "carrier": values["carrier"],
        "tracking_number": values["tracking_number"],
    }
    return values["system"], _Item(values["key"], order_id, channel, external_id, pending), {}


# -- the per-process caches ---------------------------------------------------------------------


class _Caches:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[str, Principal] = {}
        self.accounts: dict[str, _AccountSeen] = {}

    def put_token(self, principal: Principal) -> None:
        with self.lock:
            if len(self.tokens) >= _CACHE_LIMIT:
                self.tokens.clear()
            self.tokens[principal.token] = principal

    def put_account(self, code: str, seen: _AccountSeen) -> None:
        with self.lock:
            if len(self.accounts) >= _CACHE_LIMIT:
                self.accounts.clear()
            self.accounts[code] = seen

    def forget_all(self) -> None:
        with self.lock:
            self.tokens.clear()
            self.accounts.clear()

    def forget(self, *, token: str, code: str) -> None:
        with self.lock:
            self.tokens.pop(token, None)
            self.accounts.pop(code, None)


_caches = _Caches()


class TokenRefusedError(Exception):
    """The token is unknown, or its user inactive (401, DRF's messages)."""


def _token_fresh(token: str) -> Principal:
    row = Token.objects.select_related("user").filter(key=token).first()
    if row is None:
        raise TokenRefusedError("Invalid token.")
    if not row.user.is_active:
        raise TokenRefusedError("User inactive or deleted.")
    return Principal(row.user.pk, row.user.get_username(), row.user.is_superuser, token)


def principal_for_token(token: str) -> Principal:
    """The token's user as this process last read it (read and cached the first time).
    A revoked token or a deactivated user is caught by the storing statement's guard."""
    cached = _caches.tokens.get(token)
    if cached is not None:
        return cached
    principal = _token_fresh(token)
    _caches.put_token(principal)
    return principal


def _account_fresh(code: str) -> _AccountSeen | None:
    account = system_account_get(code=code)
    if account is None:
        return None
    warehouse = account.options.get("warehouse", "")
    scope_id = (
        Warehouse.objects.filter(code=warehouse).values_list("pk", flat=True).first()
        if warehouse
        else None
    )
    return _AccountSeen(account, json.dumps(account.options), scope_id)


# -- the storing statement ----------------------------------------------------------------------

# The storing statement. Its variable parts are chosen when the statement is composed (one
# fact or a list; token or not; a WMS's warehouse or none), so each variant is a constant
# statement without parameter-dependent branches: PostgreSQL keeps one generic plan of it
# instead of planning it again for every request.
_STORE = sql.SQL("""
WITH guard AS (
    SELECT a.id AS account_id
    FROM {accounts} AS a JOIN {users} AS u ON u.id = %(user_id)s
    WHERE a.id = %(account_id)s AND a.enabled AND a.options = %(options)s::jsonb
      AND u.is_active
      AND (u.is_superuser OR EXISTS (
          SELECT 1 FROM {reporters} AS r WHERE r.account_id = a.id AND r.user_id = u.id))
      {token_guard}
      {scope_guard}
), items AS (
    {items}
), prior AS (
    SELECT r.key, r.response_status, r.response_body FROM {receipts} AS r
    WHERE r.account_id = %(account_id)s AND {prior_keys}
), found AS (
    SELECT i.n, i.key, i.ref, i.channel, i.external_id, i.pending,
           coalesce(o1.id, o2.id) AS order_id,
           coalesce(o1.warehouse_id, o2.warehouse_id) AS warehouse_id
    FROM items AS i
    LEFT JOIN {orders} AS o1 ON o1.id = i.ref
    LEFT JOIN {orders} AS o2
        ON i.ref IS NULL AND o2.channel = i.channel AND o2.external_id = i.external_id
    WHERE NOT EXISTS (SELECT 1 FROM prior AS p WHERE p.key = i.key)
), missing AS (
    SELECT n FROM found WHERE ref IS NOT NULL AND order_id IS NULL
), foreign_order AS (
    SELECT order_id FROM found WHERE {foreign}
), stored AS (
    INSERT INTO {receipts} AS r
        (account_id, key, status, response_status, response_body, order_id, fact_id_ref,
         order_channel, order_external_id, scope_warehouse_id, pending, result, reported_by_id,
         received_at, applied_at)
    SELECT g.account_id, f.key, 'received', 202,
           jsonb_build_object('key', f.key, 'order', f.order_id, 'outcome',
                              CASE WHEN f.order_id IS NULL THEN 'waiting' ELSE 'accepted' END),
           f.order_id, NULL, f.channel, f.external_id, {scope_value}, f.pending::jsonb,
           '{{}}'::jsonb, %(user_id)s, now(), NULL
    FROM found AS f CROSS JOIN guard AS g
    WHERE NOT EXISTS (SELECT 1 FROM missing) AND NOT EXISTS (SELECT 1 FROM foreign_order)
    ORDER BY f.n
    ON CONFLICT (account_id, key) DO NOTHING
    RETURNING r.key, r.response_body
)
SELECT EXISTS (SELECT 1 FROM guard),
       ARRAY(SELECT n FROM missing ORDER BY n),
       (SELECT min(order_id) FROM foreign_order),
       (SELECT coalesce(jsonb_object_agg(key, response_body), '{{}}'::jsonb) FROM stored),
       (SELECT coalesce(jsonb_object_agg(key, jsonb_build_array(response_status, response_body)),
                        '{{}}'::jsonb) FROM prior)
""")
_ONE = sql.SQL(
    "SELECT 0 AS n, %(key)s::text AS key, %(ref)s::bigint AS ref, %(channel)s::text AS channel,"
    " %(external_id)s::text AS external_id, %(pending)s::text AS pending"
)
_MANY = sql.SQL(
    "SELECT * FROM unnest(%(n)s::int[], %(keys)s::text[], %(refs)s::bigint[],"
    " %(channels)s::text[], %(external_ids)s::text[], %(pending_list)s::text[])"
    " AS i(n, key, ref, channel, external_id, pending)"
)
_TOKEN_GUARD = sql.SQL(
    "AND EXISTS (SELECT 1 FROM {tokens} AS t WHERE t.key = %(token)s::text AND t.user_id = u.id)"
)
_SCOPE_GUARD = sql.SQL(
    "AND EXISTS (SELECT 1 FROM {warehouses} AS w"
    " WHERE w.id = %(scope)s::bigint AND w.code = a.options ->> 'warehouse')"
)


def _store_statement(*, many: bool, token: bool, scope: bool) -> str:
    tokens = sql.Identifier(Token._meta.db_table)
    warehouses = sql.Identifier(Warehouse._meta.db_table)
    return _STORE.format(
        accounts=sql.Identifier(ChannelAccount._meta.db_table),
        users=sql.Identifier(get_user_model()._meta.db_table),
        reporters=sql.Identifier(SystemReporter._meta.db_table),
        receipts=sql.Identifier(SystemFactReceipt._meta.db_table),
        orders=sql.Identifier(Order._meta.db_table),
        token_guard=_TOKEN_GUARD.format(tokens=tokens) if token else sql.SQL(""),
        scope_guard=_SCOPE_GUARD.format(warehouses=warehouses) if scope else sql.SQL(""),
        items=_MANY if many else _ONE,
        prior_keys=sql.SQL("r.key = ANY(%(keys)s::text[])" if many else "r.key = %(key)s::text"),
        foreign=sql.SQL(
            "warehouse_id IS NOT NULL AND warehouse_id <> %(scope)s::bigint" if scope else "false"
        ),
        scope_value=sql.SQL("%(scope)s::bigint" if scope else "NULL::bigint"),
    ).as_string(None)


_STATEMENTS: dict[tuple[bool, bool, bool], str] = {}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True, slots=True)
class _Stored:
    guard_ok: bool
    missing: list[int]
    foreign_order: int | None
    new: dict[str, Any]
    prior: dict[str, list[Any]]


def _store(principal: Principal, seen: _AccountSeen, items: list[_Item]) -> _Stored:
    variant = (len(items) > 1, bool(principal.token), seen.scope_id is not None)
    statement = _STATEMENTS.get(variant)
    if statement is None:
        statement = _STATEMENTS.setdefault(
            variant, _store_statement(many=variant[0], token=variant[1], scope=variant[2])
        )
    params: dict[str, Any] = {
        "user_id": principal.user_id,
        "account_id": seen.account.pk,
        "options": seen.options,
    }
    if variant[1]:
        params["token"] = principal.token
    if variant[2]:
        params["scope"] = seen.scope_id
    if variant[0]:
        params.update(
            n=list(range(len(items))),
            keys=[item.key for item in items],
            refs=[item.order_id for item in items],
            channels=[item.channel for item in items],
            external_ids=[item.external_id for item in items],
            pending_list=[json.dumps(item.pending, ensure_ascii=False) for item in items],
        )
    else:
        (item,) = items
        params.update(
            key=item.key,
            ref=item.order_id,
            channel=item.channel,
            external_id=item.external_id,
            pending=json.dumps(item.pending, ensure_ascii=False),
        )
    with prepared_cursor() as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    return _Stored(bool(row[0]), list(row[1] or []), row[2], _json(row[3]), _json(row[4]))


# -- the request ----------------------------------------------------------------------------------


def _parse(body: bytes) -> tuple[FactsAnswer | None, bool, list[Any]]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        return _detail(400, f"JSON parse error - {error}"), False, []
    except RecursionError:
        return _detail(400, "JSON parse error - nested too deeply."), False, []
    batch = isinstance(data, list)
    raw: list[Any] = data if batch else [data]
    if not raw:
        return _detail(400, "The list holds no facts."), batch, raw
    if len(raw) > BATCH_LIMIT:
        return (
            _detail(400, f"A batch holds at most {BATCH_LIMIT} facts (got {len(raw)})."),
            batch,
            raw,
        )
    return None, batch, raw


def _per_item(batch: bool, errors: list[dict[str, list[str]]]) -> FactsAnswer:
    return _answer(400, errors if batch else errors[0])


def facts_accept(*, body: bytes, principal: Principal) -> FactsAnswer:
    """One request of ``POST /api/v1/facts/`` by an authenticated reporter: the answer.

    One fact (a JSON object) is answered with an object, a batch (a list of up to 500) with a
    list in the same order: 202 ``{"key", "order", "outcome": "accepted" | "waiting"}`` for a
    fact stored now (``order`` is null and the outcome ``waiting`` while OrderHub does not
    know the order), 200 and the stored answer for a key seen before (a batch: 202 when it
    stored anything). 400 names the wrong fields (per position in a batch), 403 when the
    reporter may not report for the system or one of the orders; then nothing is stored.
    """
    refused, batch, raw = _parse(body)
    if refused is not None:
        return refused
    validated = [fact_validate(item) for item in raw]
    if any(errors for _system, _item, errors in validated):
        return _per_item(batch, [errors for _system, _item, errors in validated])
    systems = [system for system, _item, _errors in validated]
    if len(set(systems)) > 1:
        return _per_item(
            batch,
            [{} if name == systems[0] else {"system": ["A batch reports for one system."]}
             for name in systems],
        )  # fmt: skip
    items = [item for _system, item, _errors in validated if item is not None]
    code = systems[0]
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        first.setdefault(item.key, index)
    unique = [items[index] for index in sorted(first.values())]
    fresh = False
    for _attempt in range(3):
        seen = _caches.accounts.get(code)
        if seen is None:
            seen = _account_fresh(code)
            if seen is None:
                error = {"system": [f"No wms, erp or tms account {code!r}."]}
                return _answer(400, [error] * len(items) if batch else error)
            _caches.put_account(code, seen)
        stored = _store(principal, seen, unique)
        if not stored.guard_ok:
            if fresh:
                return _detail(403, f"{principal.username} may not report for {code}")
            _caches.forget(token=principal.token, code=code)
            refusal = _refusal(principal, code)
            if refusal is not None:
                return refusal
            fresh = True  # only the cached values were stale: once more, read fresh
            continue
        if stored.missing:
            position = {index: n for n, index in enumerate(sorted(first.values()))}
            missing = set(stored.missing)
            errors = [
                {"order": [f"order {item.order_id} does not exist"]}
                if first[item.key] == index and position[index] in missing
                else {}
                for index, item in enumerate(items)
            ]
            return _per_item(batch, errors)
        if stored.foreign_order is not None:
            return _detail(
                403,
                f"{seen.account.code} may not report for order {stored.foreign_order}: "
                "another warehouse's order",
            )
        answers = _answers(items, first, stored)
        if answers is None:
            continue  # a concurrent request stored one of the keys first: its answer, now
        if not batch:
            return _answer(answers[0][0], answers[0][1])
        written = any(status == 202 for status, _body in answers)
        return _answer(202 if written else 200, [body for _status, body in answers])
    return _detail(503, "The facts could not be stored; send them again.")


def _answers(
    items: list[_Item], first: dict[str, int], stored: _Stored
) -> list[tuple[int, Any]] | None:
    """(status, body) per item; None when a key is neither new nor stored before."""
    answers: list[tuple[int, Any]] = []
    for index, item in enumerate(items):
        if item.key in stored.prior:
            status, body = stored.prior[item.key]
            answers.append((200, _json(body)))
        elif item.key in stored.new:
            status = 202 if first[item.key] == index else 200
            answers.append((status, stored.new[item.key]))
        else:
            return None
    return answers


def _refusal(principal: Principal, code: str) -> FactsAnswer | None:
    """Why the guard refused, read fresh (401, 400 or 403); None if nothing is wrong now."""
    if principal.token:
        try:
            _caches.put_token(_token_fresh(principal.token))
        except TokenRefusedError as error:
            return _detail(401, str(error))
    user = get_user_model().objects.filter(pk=principal.user_id).first()
    if user is None or not user.is_active:
        return _detail(401, "User inactive or deleted.")
    seen = _account_fresh(code)
    if seen is None:
        return _answer(400, {"system": [f"No wms, erp or tms account {code!r}."]})
    try:
        system_account_check(account=seen.account, user=user)
    except SystemFactsForbiddenError as error:
        return _detail(403, str(error))
    _caches.put_account(code, seen)
    return None
