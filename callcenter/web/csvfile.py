"""The one CSV writer of the product: every export (KPI reports, campaign reports, the audit log, a call's
triage record; on the web and from the CLI) is written by `csv_text` and served by `csv_response`.

The formula guard: text a spreadsheet would run as a formula, starting with = + - @ (or a tab or carriage
return, which some spreadsheets skip before such a sign), is prefixed with an apostrophe, so a typed reason
or a queue title "=HYPERLINK(...)" stays text. Numbers are written as they are (a negative number is not a
formula).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from aiohttp import web

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(header: Sequence[str], rows: Iterable[Iterable[object]]) -> str:
    """The header line, then one line per row; every cell through the formula guard."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([cell(name) for name in header])
    writer.writerows([cell(value) for value in row] for row in rows)
    return out.getvalue()


def csv_response(text: str, filename: str) -> web.Response:
    """A download, never cached: exports may name patients."""
    return web.Response(text=text, content_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
