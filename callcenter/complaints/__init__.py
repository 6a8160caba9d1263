"""Tickets from every channel (issue 17): complaints, suggestions and praise, with serial numbers patients
can quote, routing to a handling group, a workflow with due times and escalation, and their history."""
