"""How an order's delivery address reads, per the address's country.

Orders store the parts the channel sent (``country`` ISO 3166-1 alpha-2, ``province``,
``city``, ``district``, ``address`` the street part, ``postal_code``). A Chinese address reads
from the largest area to the street, without separators (浙江省杭州市西湖区文三路 100 号), and a
municipality's province and city are one name (上海市, not 上海市上海市). Elsewhere it reads
from the street outwards, comma-separated, each area named once ("30 Marina Boulevard,
Singapore 018989", not "SingaporeSingapore 30 Marina Boulevard"); the country is named (in the
reader's language) unless the last area already is it.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import pgettext_lazy

from orderhub.models import Order

# Countries the channels deliver to today (English name, name in the reader's language); any
# other code is shown as the code itself.
COUNTRY_NAMES: dict[str, tuple[str, Any]] = {
    "CN": ("China", pgettext_lazy("country", "China")),
    "HK": ("Hong Kong", pgettext_lazy("country", "Hong Kong")),
    "TW": ("Taiwan", pgettext_lazy("country", "Taiwan")),
    "SG": ("Singapore", pgettext_lazy("country", "Singapore")),
    "US": ("United States", pgettext_lazy("country", "United States")),
    "GB": ("United Kingdom", pgettext_lazy("country", "United Kingdom")),
    "DE": ("Germany", pgettext_lazy("country", "Germany")),
    "JP": ("Japan", pgettext_lazy("country", "Japan")),
}
# English names the stored areas use for a country that is also its only city.
_CITY_STATES = {"SG": "Singapore", "HK": "Hong Kong"}


def _distinct(parts: list[str]) -> list[str]:
    """The parts, blanks and repeats (case-insensitive) dropped, first occurrence kept."""
    seen: set[str] = set()
    kept = []
    for part in parts:
        cleaned = part.strip()
        if cleaned and cleaned.casefold() not in seen:
            seen.add(cleaned.casefold())
            kept.append(cleaned)
    return kept


def address_format(
    *,
    country: str,
    province: str,
    city: str,
    district: str,
    street: str,
    postal_code: str = "",
) -> str:
    """The address as a person of that country writes it (see the module docstring)."""
    code = (country or "CN").upper()
    if code == "CN":
        areas = _distinct([province, city, district])
        text = "".join(areas)
        return " ".join(filter(None, (text, street.strip())))
    areas = _distinct([district, city, province])
    if areas and postal_code.strip():
        areas[-1] = f"{areas[-1]} {postal_code.strip()}"
    elif postal_code.strip():
        areas.append(postal_code.strip())
    parts = _distinct([street, *areas])
    english_name, local_name = COUNTRY_NAMES.get(code, ("", ""))
    named = {english_name.casefold(), _CITY_STATES.get(code, "").casefold()} - {""}
    last = areas[-1].casefold() if areas else ""
    already_named = any(last.startswith(name) for name in named)
    if not already_named:
        parts.append(str(local_name) if english_name else code)
    return ", ".join(parts)


def order_address(order: Order) -> str:
    """The order's delivery address, as ``address_format`` writes it."""
    return address_format(
        country=order.country,
        province=order.province,
        city=order.city,
        district=order.district,
        street=order.address,
        postal_code=order.postal_code,
    )
