"""The one guard for CSV exports (KPIs, campaign reports, the audit log): a cell a spreadsheet would run as
a formula is quoted. Top-level, so that every feature's export imports the same rule.

Text starting with = + - @ (or a tab or carriage return, which some spreadsheets skip before such a sign) is
prefixed with an apostrophe: a typed reason or a queue title "=HYPERLINK(...)" stays text. Numbers are
written as they are (a negative number is not a formula).
"""
from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
