"""Secrets masked out of logged call bodies and URLs.

Applied when an outbound call is written (so tokens never rest in the database) and again
when a log is shown (rows written before masking existed). Masks every stored secret value
of the account and the value of every token-like field, in JSON (also JSON inside a JSON
string, as Kuaidi100's ``param`` is), in form bodies and in query strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "••••"
_MASKED_KEYS = (
    r"(?:access_token|refresh_token|client_secret|app_secret|consumer_secret|consumer_key|"
    r"password|secret|salt|token|sign|signature)"
)
_JSON_SECRET = re.compile(rf'("{_MASKED_KEYS}"\s*:\s*")(?:[^"\\]|\\.)*(")', re.IGNORECASE)
# The same inside a JSON string (Kuaidi100's ``param``): \"key\":\"value\"
_NESTED_SECRET = re.compile(rf'(\\"{_MASKED_KEYS}\\"\s*:\s*\\").*?(\\")', re.IGNORECASE)
_FORM_SECRET = re.compile(rf"(\b{_MASKED_KEYS}=)[^&\s\"]*", re.IGNORECASE)


def masked(text: str, secret_values: Iterable[str] = ()) -> str:
    """``text`` with every given secret value and every token-like field value masked."""
    for value in sorted(secret_values, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, MASK)
    text = _JSON_SECRET.sub(rf"\g<1>{MASK}\g<2>", text)
    text = _NESTED_SECRET.sub(rf"\g<1>{MASK}\g<2>", text)
    return _FORM_SECRET.sub(rf"\g<1>{MASK}", text)
