"""Contact-center KPIs: one computation from the call event log (definitions: docs/kpi.md)."""
