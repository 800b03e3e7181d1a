"""The trace as a PDF (WeasyPrint), fetching nothing from anywhere.

Order data reaches the HTML only through Django's autoescaping, and the URL fetcher refuses
every URL but ``data:``: an ``<img src=file:///etc/passwd>`` or a remote URL in a buyer note is
printed as text and never opened.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetchingError

from orderhub.addresses import order_address
from traceability.selectors import OrderTrace
from traceability.story import story_lines, story_summary

logger = logging.getLogger(__name__)

# Which ISO 9001:2015 clauses each section of the report gives evidence for.
# Titles and sections are translated when the report is rendered (in the report's language);
# the Chinese titles are those of GB/T 19001-2016, the national adoption of ISO 9001:2015.
ISO_9001_INDEX: tuple[tuple[str, Any, Any], ...] = (
    ("7.5", _("Documented information"), _("identity, timeline, ledger")),
    ("8.2.1", _("Customer communication"), _("timeline (customer messages)")),
    (
        "8.5.1",
        _("Control of production and service provision"),
        _("system status, timeline"),
    ),
    ("8.5.2", _("Identification and traceability"), _("identity, timeline, ledger")),
    ("8.5.4", _("Preservation"), _("allocations, shipping milestones")),
    ("8.7", _("Control of nonconforming outputs"), _("anomalies")),
    (
        "9.1.1",
        _("Monitoring, measurement, analysis and evaluation"),
        _("recovery times"),
    ),
    ("10.2", _("Nonconformity and corrective action"), _("anomalies, recovery times")),
)


class RefusingURLFetcher(URLFetcher):
    """Serves ``data:`` URIs and refuses everything else (file, http, https, ftp…)."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=["data"], allow_redirects=False, timeout=1)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> Any:
        if not url.startswith("data:"):
            self.refused.append(url)
            raise URLFetchingError(f"the trace report fetches nothing: {url[:80]!r} refused")
        return super().fetch(url, headers)


def trace_html(*, trace: OrderTrace, language: str = "zh-hans") -> str:
    """The report's HTML in ``language``; its story lines are told in that language."""
    with translation.override(language):
        lines = story_lines(order=trace.order)
        return render_to_string(
            "traceability/trace_pdf.html",
            {
                "trace": trace,
                "iso_index": ISO_9001_INDEX,
                "language": language,
                "lines": lines,
                "summary": story_summary(order=trace.order, lines=lines),
                "address": order_address(trace.order),
            },
        )


_fonts = threading.local()


def _font_config() -> FontConfiguration:
    """One font configuration per thread, kept: building it (fontconfig, Pango's font map)
    is a sixth of a render. The report declares no @font-face, so nothing accumulates."""
    config: FontConfiguration | None = getattr(_fonts, "config", None)
    if config is None:
        config = _fonts.config = FontConfiguration()
    return config


def trace_pdf_render(*, trace: OrderTrace, language: str = "zh-hans") -> bytes:
    """The PDF bytes of ``trace``. Writes nothing, fetches nothing (reads the order's story)."""
    fetcher = RefusingURLFetcher()
    document = HTML(string=trace_html(trace=trace, language=language), url_fetcher=fetcher)
    pdf = document.write_pdf(font_config=_font_config())
    if fetcher.refused:
        logger.warning("trace.pdf.refused_urls %s", fetcher.refused[:5])
    assert pdf is not None
    return pdf
