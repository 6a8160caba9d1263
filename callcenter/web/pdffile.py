"""The one PDF writer of the product: HTML (a template of agent_ui/templates) laid out by WeasyPrint, served
by `pdf_response` like `csvfile.csv_response` serves CSV.

WeasyPrint uses the system's Pango and fonts (scripts/setup installs them). The HTML must carry its own style:
nothing is fetched while rendering (a URL is refused), so text that slipped into a page cannot make the server
fetch anything.
"""
from __future__ import annotations

import weasyprint
from aiohttp import web


def pdf_of(html: str) -> bytes:
    """Blocking (tens of milliseconds to seconds): run it in a thread."""
    return weasyprint.HTML(string=html, url_fetcher=_no_fetch).write_pdf()


def _no_fetch(url: str, *args, **kwargs):
    raise ValueError(f"a PDF fetches nothing ({url[:40]})")


def pdf_response(data: bytes, filename: str, *, inline: bool = False) -> web.Response:
    """A download (or, inline, shown by the browser to print), never cached: PDFs may name patients."""
    disposition = "inline" if inline else "attachment"
    return web.Response(body=data, content_type="application/pdf", headers={
        "Content-Disposition": f'{disposition}; filename="{filename}"', "Cache-Control": "no-store"})
