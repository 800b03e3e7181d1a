"""WooCommerce: ``mapping`` (pure: verify + normalize). This kind has no client."""

from channels_app.adapters.woocommerce.mapping import WooCommerceAdapter

__all__ = ["WooCommerceAdapter"]
