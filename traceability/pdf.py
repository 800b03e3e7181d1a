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
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetchingError

from traceability.selectors import OrderTrace

logger = logging.getLogger(__name__)

# Which ISO 9001:2015 clauses each section of the report gives evidence for.
ISO_9001_INDEX: tuple[tuple[str, str, str], ...] = (
    ("7.5", "Documented information", "identity, timeline, ledger"),
    ("8.2.1", "Customer communication", "timeline (customer messages)"),
    ("8.5.1", "Control of production and service provision", "system status, timeline"),
    ("8.5.2", "Identification and traceability", "identity, timeline, ledger"),
    ("8.5.4", "Preservation", "allocations, shipping milestones"),
    ("8.7", "Control of nonconforming outputs", "anomalies"),
    ("9.1.1", "Monitoring, measurement, analysis and evaluation", "recovery times"),
    ("10.2", "Nonconformity and corrective action", "anomalies, recovery times"),
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
    with translation.override(language):
        return render_to_string(
            "traceability/trace_pdf.html",
            {"trace": trace, "iso_index": ISO_9001_INDEX, "language": language},
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
    """The PDF bytes of ``trace``. Pure rendering: writes nothing, fetches nothing."""
    fetcher = RefusingURLFetcher()
    document = HTML(string=trace_html(trace=trace, language=language), url_fetcher=fetcher)
    pdf = document.write_pdf(font_config=_font_config())
    if fetcher.refused:
        logger.warning("trace.pdf.refused_urls %s", fetcher.refused[:5])
    assert pdf is not None
    return pdf
