"""Care-plan errors: each is a ServiceError the web boundary turns into its status (no patient data in any
message)."""
from __future__ import annotations

from ..errors import ServiceError


class CarePlanError(ServiceError):
    status = 400


class CarePlanNotFound(CarePlanError):
    status = 404


class NotYours(CarePlanError):
    """A follow-up this user's role and desk do not give them."""
    status = 403


class AlreadyClosed(CarePlanError):
    status = 409


class AlreadyEnrolled(CarePlanError):
    """An active plan of the patient for the same condition exists (an enrolment sent twice)."""
    status = 409
