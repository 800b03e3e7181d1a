"""Accounts wired to a running sandbox, for tests, the demo and benchmarks."""

from __future__ import annotations

from channels_app.models import ChannelAccount
from channels_app.sandbox_api.server import SandboxAPI
from channels_app.services import channel_account_create

AMAZON_CLIENT = ("amzn1.application-oa2-client.sandbox", "lwa-secret", "Atzr|sandbox-refresh")
PDD_CLIENT = ("pdd-client-1", "pdd-secret", "pdd-access-token")
DOUYIN_APP = ("7100000000000000001", "douyin-app-secret", "douyin-access-token")
WECHAT_MP_TOKEN = "wechat-mp-access-token"  # noqa: S105  # the sandbox stand-in's own


def amazon_account(api: SandboxAPI, *, code: str = "amazon-us", **options: str) -> ChannelAccount:
    client_id, client_secret, refresh = AMAZON_CLIENT
    api.amazon.client_add(client_id, client_secret, refresh)
    return channel_account_create(
        kind="amazon",
        code=code,
        options={
            "client_id": client_id,
            "marketplace_ids": api.amazon.marketplace,
            "base_url": api.url,
            "token_url": f"{api.url}/auth/o2/token",
            **options,
        },
        secrets={"client_secret": client_secret, "refresh_token": refresh},
    )


def pinduoduo_account(api: SandboxAPI, *, code: str = "pdd-shop", **options: str) -> ChannelAccount:
    client_id, client_secret, token = PDD_CLIENT
    api.pinduoduo.client_add(client_id, client_secret, token)
    return channel_account_create(
        kind="pinduoduo",
        code=code,
        options={"client_id": client_id, "base_url": f"{api.url}/api/router", **options},
        secrets={"client_secret": client_secret, "access_token": token},
    )


def douyin_account(api: SandboxAPI, *, code: str = "douyin-shop", **options: str) -> ChannelAccount:
    app_key, app_secret, token = DOUYIN_APP
    api.douyin.app_add(app_key, app_secret, token)
    return channel_account_create(
        kind="douyin",
        code=code,
        options={"app_key": app_key, "base_url": api.url, **options},
        secrets={"app_secret": app_secret, "access_token": token},
    )


def kingdee_account(dsn: str, *, code: str = "erp-k3", **options: str) -> ChannelAccount:
    return channel_account_create(
        kind="kingdee_k3", code=code, options=dict(options), secrets={"dsn": dsn}
    )


def deliver_in_process(url: str, *, data: bytes, headers: dict[str, str], timeout: float) -> None:
    """A ``send`` for ``DouyinSandbox.push_orders`` that hands each push to intake directly
    (same verification and storage as the HTTP view, without a live server)."""
    from django.utils import timezone

    from channels_app.services.intake import webhook_receive

    code = url.rstrip("/").rsplit("/", 1)[-1]
    webhook_receive(
        code=code,
        body=data,
        headers={k.lower(): v for k, v in headers.items()},
        query={},
        received_at=timezone.now(),
    )


def shop_account(api: SandboxAPI, *, kind: str, code: str) -> ChannelAccount:
    """A shopify, youzan or woocommerce account whose write-back goes to the sandbox."""
    if kind == "shopify":
        api.shops.shopify_tokens.add("shpat_sandbox")
        return channel_account_create(
            kind=kind, code=code,
            options={"shop_domain": "sandbox.myshopify.com", "base_url": api.url},
            secrets={"webhook_secret": "whsec", "access_token": "shpat_sandbox"},
        )  # fmt: skip
    if kind == "youzan":
        api.shops.youzan_tokens.add("yz-token")
        return channel_account_create(
            kind=kind, code=code, options={"client_id": "yz-client", "base_url": api.url},
            secrets={"client_secret": "yz-secret", "access_token": "yz-token"},
        )  # fmt: skip
    api.shops.woo_keys["ck_sandbox"] = "cs_sandbox"
    return channel_account_create(
        kind=kind, code=code, options={"base_url": api.url},
        secrets={"webhook_secret": "whsec", "consumer_key": "ck_sandbox",
                 "consumer_secret": "cs_sandbox"},
    )  # fmt: skip


KUAIDI100_KEY = ("kd100-key-sandbox", "KD100CUSTOMER", "kd100-salt")


def kuaidi100_account(
    api: SandboxAPI, *, code: str = "kd100-main", callback_url: str = "", **options: str
) -> ChannelAccount:
    """A kuaidi100 account whose subscribe and query calls go to the sandbox."""
    key, customer, salt = KUAIDI100_KEY
    api.kuaidi100.account_add(key, customer)
    return channel_account_create(
        kind="kuaidi100",
        code=code,
        options={
            "base_url": api.url,
            "customer": customer,
            "callback_url": callback_url or f"http://127.0.0.1/hooks/{code}/",
            **options,
        },
        secrets={"salt": salt, "key": key},
    )
