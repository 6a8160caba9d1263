"""Outbound campaigns (issue 6): definitions (schema), compliance, planning, claims, runs and reports."""
