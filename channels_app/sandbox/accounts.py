"""Sandbox accounts: one per kind, random secrets, created through the normal service."""

from __future__ import annotations

import secrets
import string
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from channels_app.adapters.base import AccountConfig
from channels_app.models import ChannelAccount
from channels_app.selectors import channel_account_config_get
from channels_app.services import channel_account_create
from channels_app.services.accounts import WRITEBACK_NEEDS, WRITEBACK_OFF, WRITEBACK_OPTION


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
