"""Shopify: ``mapping`` (pure: verify + normalize). This kind has no client."""

from channels_app.adapters.shopify.mapping import ShopifyAdapter

__all__ = ["ShopifyAdapter"]
