"""WeChat Pay: ``mapping`` (pure: verify + normalize). This kind has no client."""

from channels_app.adapters.wechat_pay.mapping import WechatPayAdapter

__all__ = ["WechatPayAdapter"]
