"""Sandbox accounts: one per kind, random secrets, created through the normal service."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from channels_app.adapters.base import AccountConfig
from channels_app.models import ChannelAccount
from channels_app.selectors import channel_account_config_get
from channels_app.services import channel_account_create
from channels_app.services.accounts import WRITEBACK_NEEDS, WRITEBACK_OFF, WRITEBACK_OPTION
from channels_app.services.system_facts import system_reporter_add
from orderhub.models import Warehouse


def key_folder() -> Path:
    return Path(settings.BASE_DIR) / "var" / "sandbox"


def _token(length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _settings_for(kind: str, code: str) -> tuple[dict[str, str], dict[str, str]]:
    """(options, secrets) for a fresh sandbox account; WeChat Pay's private key is kept on disk."""
    if kind in ("shopify", "woocommerce"):
        return {}, {"webhook_secret": _token(32)}
    if kind == "douyin":
        return {"app_key": str(secrets.randbelow(10**18))}, {"app_secret": _token(36)}
    if kind == "youzan":
        return {"client_id": _token(18).lower()}, {"client_secret": _token(32).lower()}
    if kind == "wechat_pay":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        folder = key_folder()
        folder.mkdir(parents=True, exist_ok=True)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = folder / f"{code}.pem"
        path.write_bytes(pem)
        path.chmod(0o600)
        public = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        options = {
            "mchid": "1900000109",
            "platform_serial": f"PUB_KEY_ID_{_token(16).upper()}",
            "platform_public_key": public.decode(),
        }
        return options, {"apiv3_key": _token(32)}
    if kind == "dingtalk":
        return {}, {"token": _token(16), "aes_key": _token(43), "owner_key": f"ding{_token(16)}"}
    if kind == "webform":
        return {}, {"hmac_secret": _token(40)}
    if kind == "kuaidi100":
        return {}, {"salt": _token(24)}
    if kind == "track17":
        return {}, {"security_key": _token(32)}
    if kind == "aftership":
        return {}, {"webhook_secret": _token(32)}
    raise ValueError(f"the sandbox does not play {kind!r}")


def sandbox_accounts_setup(*, kinds: tuple[str, ...], prefix: str = "sandbox") -> list[str]:
    """Create ``<prefix>-<kind>`` for each kind that lacks one; returns the codes created."""
    created = []
    for kind in kinds:
        code = f"{prefix}-{kind.replace('_', '')}"
        if ChannelAccount.objects.filter(code=code).exists():
            continue
        options, secret_values = _settings_for(kind, code)
        if kind in WRITEBACK_NEEDS:  # the sandbox only pushes: no shop API to write back to
            options = {**options, WRITEBACK_OPTION: WRITEBACK_OFF}
        channel_account_create(
            kind=kind, code=code, name=f"Sandbox {kind}", options=options, secrets=secret_values
        )
        created.append(code)
    return created


def sandbox_account(kind: str, prefix: str = "sandbox") -> AccountConfig:
    return channel_account_config_get(code=f"{prefix}-{kind.replace('_', '')}")


def private_key_for(code: str) -> rsa.RSAPrivateKey | None:
    path = key_folder() / f"{code}.pem"
    if not path.exists():
        return None
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    return key if isinstance(key, rsa.RSAPrivateKey) else None


@dataclass(frozen=True, slots=True)
class SystemAccounts:
    """The sandbox's WMS per warehouse, its ERP and the API token they report with."""

    wms: dict[str, str]  # warehouse code -> account code
    erp: str
    token: str


def reporter_username(prefix: str = "sandbox") -> str:
    return f"{prefix}-reporter"


def system_code(kind: str, warehouse: str = "", prefix: str = "sandbox") -> str:
    return f"{prefix}-{kind}-{warehouse.lower()}" if warehouse else f"{prefix}-{kind}"


def sandbox_systems_setup(*, prefix: str = "sandbox") -> list[str]:
    """Create a WMS account per active warehouse, one ERP, the reporter user allowed for all of
    them and its API token; existing ones are kept. Returns the account codes created."""
    created = []
    wanted = [
        ("wms", code, {"warehouse": code})
        for code in Warehouse.objects.filter(is_active=True)
        .order_by("code")
        .values_list("code", flat=True)
    ]
    wanted.append(("erp", "", {}))
    user, _new = get_user_model().objects.get_or_create(username=reporter_username(prefix))
    Token.objects.get_or_create(user=user)
    for kind, warehouse, options in wanted:
        code = system_code(kind, warehouse, prefix)
        if not ChannelAccount.objects.filter(code=code).exists():
            channel_account_create(
                kind=kind, code=code, name=f"Sandbox {kind} {warehouse}".strip(),
                options=options, secrets={},
            )  # fmt: skip
            created.append(code)
        system_reporter_add(account_code=code, username=user.get_username())
    return created


def sandbox_systems(*, prefix: str = "sandbox") -> SystemAccounts | None:
    """The sandbox's system accounts and token, or ``None`` before ``sandbox_systems_setup``."""
    user = get_user_model().objects.filter(username=reporter_username(prefix)).first()
    token = Token.objects.filter(user=user).values_list("key", flat=True).first() if user else None
    erp = system_code("erp", prefix=prefix)
    if token is None or not ChannelAccount.objects.filter(code=erp).exists():
        return None
    wms = {
        account.options.get("warehouse", ""): account.code
        for account in ChannelAccount.objects.filter(
            kind="wms", code__startswith=f"{prefix}-wms-", enabled=True
        )
    }
    return SystemAccounts(wms=dict(sorted(wms.items())), erp=erp, token=token)
