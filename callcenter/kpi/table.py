"""A KpiReport as plain-text tables that fit 100 columns: one table per group of KPIs, a totals line each."""
from __future__ import annotations

from .compute import KpiReport

# 16 fits an interval ("2026-11-23 08:00"); every cell is right-aligned with a space before it.
KEY_WIDTH = 16
# (group title, [(kpi name, column heading, kind)]); kind: n count, p percent, s seconds, h hours.
GROUPS = [
    ("Inbound", [("offered", "Offer", "n"), ("answered", "Answ", "n"), ("abandoned", "Aband", "n"),
                 ("short_abandons", "Short", "n"), ("asa_seconds", "ASA s", "s"),
                 ("aht_seconds", "AHT s", "s"),
                 ("service_level", "SL", "p"), ("abandon_rate", "Abnd%", "p"), ("occupancy", "Occup", "p"),
                 ("transfers", "Xfer", "n"), ("callbacks", "CallB", "n"), ("fcr_rate", "FCR", "p")]),
    ("Outbound", [("outbound_dialed", "Dialed", "n"), ("contact_rate", "Contact", "p"),
                  ("completion_rate", "Complete", "p"), ("confirmations", "Confirm", "n"),
                  ("cancellations", "Cancel", "n"), ("opt_outs", "OptOut", "n"), ("amd_human", "Human", "n"),
                  ("amd_machine", "Machine", "n"), ("outbound_abandon_rate", "Aband%", "p")]),
    ("Patient relationship", [("followup_rate", "Follow-up", "p"), ("csat", "CSAT", "p"),
                              ("red_flags", "RedFlags", "n"), ("time_to_escalation_seconds", "Escal s", "s"),
                              ("complaint_resolution_hours", "Complaint h", "h")]),
    ("Agent time (h:mm:ss)", [("available_seconds", "Available", "d"), ("on_call_seconds", "On call", "d"),
                              ("wrapup_seconds", "Wrap-up", "d"), ("paused_seconds", "Paused", "d")]),
]


def render(report: KpiReport) -> str:
    zone = report.time_zone
    head = f"KPIs by {report.by}, {report.start.isoformat()} to {report.end.isoformat()} ({zone})"
    return "\n\n".join([head] + [_table(report, title, columns) for title, columns in GROUPS]) + "\n"


def _table(report: KpiReport, title: str, columns: list[tuple[str, str, str]]) -> str:
    width = max(7, *(len(heading) + 1 for _, heading, _ in columns))
    lines = [title, _line("", [h for _, h, _ in columns], width), "-" * (KEY_WIDTH + width * len(columns))]
    for row in report.rows:
        lines.append(_line(row.label, [_cell(row.kpis[n], kind) for n, _, kind in columns], width))
    lines.append(_line("Total", [_cell(report.totals[n], kind) for n, _, kind in columns], width))
    return "\n".join(lines)


def _line(key: str, cells: list[str], width: int) -> str:
    return key[:KEY_WIDTH].ljust(KEY_WIDTH) + "".join(c.rjust(width) for c in cells)


def _cell(value, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "p":
        return f"{value * 100:.1f}%"
    if kind == "s":
        return f"{value:.0f}"
    if kind == "h":
        return f"{value:.1f}"
    if kind == "d":
        total = round(value)
        return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"
    return str(value)
