"""What an incident's messages say (pure: incident data in, title and text out)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from health.alerts.choices import Comparator, MessageKind
from health.alerts.models import Incident

COMPARATOR_SIGNS = {
    Comparator.GT: ">",
    Comparator.GTE: "≥",
    Comparator.LT: "<",
    Comparator.LTE: "≤",
}
EVIDENCE_SHOWN = 5


def _number(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _evidence_line(evidence: dict[str, Any]) -> str:
    for name in ("orders", "anomalies"):
        items = evidence.get(name)
        if items:
            shown = ", ".join(str(item) for item in items[:EVIDENCE_SHOWN])
            more = len(items) > EVIDENCE_SHOWN or int(evidence.get("count", 0)) > len(items)
            return shown + (" …" if more else "")
    return ""


def incident_message(incident: Incident, kind: str, *, step: int = 0) -> tuple[str, str]:
    """(title, text) in the site's language (LANGUAGE_CODE)."""
    rule = incident.rule
    with translation.override(settings.LANGUAGE_CODE):
        names = {"rule": rule.name, "subject": incident.subject_key}
        if kind == MessageKind.OPENED:
            title = _("Alert: %(rule)s (%(subject)s)") % names
        elif kind == MessageKind.REMINDER:
            title = _("Reminder %(step)d, not acknowledged: %(rule)s (%(subject)s)") % {
                **names,
                "step": step,
            }
        else:
            title = _("Resolved: %(rule)s (%(subject)s)") % names
        since = timezone.localtime(incident.opened_at or incident.breach_started_at)
        lines = [
            _("Value %(value)s, rule %(sign)s %(threshold)s, since %(since)s.")
            % {
                "value": _number(incident.value),
                "sign": COMPARATOR_SIGNS.get(rule.comparator, rule.comparator),  # type: ignore[call-overload]
                "threshold": _number(rule.threshold),
                "since": since.strftime("%Y-%m-%d %H:%M"),
            }
        ]
        evidence = _evidence_line(incident.evidence)
        if evidence:
            lines.append(_("Evidence: %(items)s") % {"items": evidence})
        if rule.audience:
            lines.append(_("For: %(audience)s") % {"audience": rule.audience})
        return title, "\n".join(lines)


def test_message() -> tuple[str, str]:
    with translation.override(settings.LANGUAGE_CODE):
        return (
            _("OrderHub test message"),
            _("This is a test of the notifier. No action is needed."),
        )
