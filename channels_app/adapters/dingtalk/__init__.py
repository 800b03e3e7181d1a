"""DingTalk: ``mapping`` (pure: verify + normalize). This kind has no client."""

from channels_app.adapters.dingtalk.mapping import DingTalkAdapter, decrypt, encrypt, signature

__all__ = ["DingTalkAdapter", "decrypt", "encrypt", "signature"]
