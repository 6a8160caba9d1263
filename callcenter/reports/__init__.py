"""Follow-up performance and the report catalogue (issue 16, items 5 and 6): docs/reports.md."""
