"""Inbound self-service (issue 17): what the hotline's `action` nodes do for a caller (their appointment, a
ticket's status) and the survey after an inbound call."""
