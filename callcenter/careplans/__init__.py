"""Care plans for chronic and VIP patients and the follow-up desk (issue 16, items 3 and 4)."""
