"""Customer confirmation, the public pages and the WeChat Official Account sender."""

from orderhub.settings.env import env

# Where customers open their links (no trailing slash), e.g. https://track.example.com
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
WECHAT_MP_API_BASE = env.str("WECHAT_MP_API_BASE", default="https://api.weixin.qq.com")
WECHAT_MP_ACCESS_TOKEN = env.str("WECHAT_MP_ACCESS_TOKEN", default="")
WECHAT_MP_TEMPLATE_ID = env.str("WECHAT_MP_TEMPLATE_ID", default="")
CONFIRMATION_REMIND_HOURS = env.float("CONFIRMATION_REMIND_HOURS", default=12.0)
CONFIRMATION_ESCALATE_HOURS = env.float("CONFIRMATION_ESCALATE_HOURS", default=24.0)
CONFIRMATION_EXPIRES_HOURS = env.float("CONFIRMATION_EXPIRES_HOURS", default=72.0)
ORDER_LINK_DAYS = env.int("ORDER_LINK_DAYS", default=90)
# Shipping target of a key account's order after payment.
KEY_ACCOUNT_SHIP_HOURS = env.float("KEY_ACCOUNT_SHIP_HOURS", default=4.0)
# django-ratelimit rates of the public pages, per client IP and per order.
PUBLIC_RATE_PER_IP = env.str("PUBLIC_RATE_PER_IP", default="30/m")
PUBLIC_RATE_PER_ORDER = env.str("PUBLIC_RATE_PER_ORDER", default="10/m")
