"""The printable paper sheet of a questionnaire: HTML (agent_ui/templates/followup_sheet.html) to PDF.

WeasyPrint lays the sheet out (boxes for choices, lines for text, the scale printed) with the fonts and
Pango of the system (scripts/setup installs them). It is a pure function of the HTML: the view reads the
patient's header, audited, and renders the template.
"""
from __future__ import annotations

import weasyprint


def pdf_of(html: str) -> bytes:
    """The PDF of a sheet's HTML. Its style is inline: nothing is fetched while rendering (a URL in the
    HTML is refused, so a text that slipped into it cannot make the server fetch anything)."""
    return weasyprint.HTML(string=html, url_fetcher=_no_fetch).write_pdf()


def _no_fetch(url: str, *args, **kwargs):
    raise ValueError(f"the sheet fetches nothing ({url[:40]})")
