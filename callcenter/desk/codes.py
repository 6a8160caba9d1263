"""The desk's code lists, as data: what a call was about (disposition) and why an agent is paused.

EXAMPLE CONTENT: the hospital's contact-center lead should review these lists before production use; a code
once used must stay in the list (reports group by it), a retired one gets `retired: True`.
"""
from __future__ import annotations

from typing import Final

DISPOSITIONS: Final[tuple[dict, ...]] = (
    {"code": "appointment_booked", "label": "Appointment booked"},
    {"code": "appointment_changed", "label": "Appointment changed"},
    {"code": "appointment_cancelled", "label": "Appointment cancelled"},
    {"code": "results_given", "label": "Results given"},
    {"code": "refill_requested", "label": "Refill requested"},
    {"code": "nurse_advice", "label": "Nurse advice given"},
    {"code": "referred_emergency", "label": "Referred to emergency services"},
    {"code": "complaint_logged", "label": "Complaint logged"},
    {"code": "information_given", "label": "General information given"},
    {"code": "callback_scheduled", "label": "Callback scheduled"},
    {"code": "wrong_number", "label": "Wrong number"},
    {"code": "caller_hung_up", "label": "Caller hung up / no conversation"},
    {"code": "other", "label": "Other (explain in notes)"},
)

PAUSE_REASONS: Final[tuple[dict, ...]] = (
    {"code": "break", "label": "Break"},
    {"code": "lunch", "label": "Lunch"},
    {"code": "training", "label": "Training"},
    {"code": "meeting", "label": "Meeting"},
    {"code": "admin_work", "label": "Admin work"},
    {"code": "outbound", "label": "Outbound calls"},
    {"code": "personal", "label": "Personal"},
)

DISPOSITION_CODES: Final[frozenset[str]] = frozenset(d["code"] for d in DISPOSITIONS if not d.get("retired"))
