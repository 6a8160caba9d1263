"""Errors of recording review; `status` is the HTTP status a view answers with."""

from ..errors import ServiceError


class ReviewError(ServiceError):
    status = 400


class InvalidSearch(ReviewError):
    pass


class InvalidReason(ReviewError):
    pass


class RecordingNotFound(ReviewError):
    status = 404

    def __init__(self, recording_id: int):
        super().__init__(f"no recording {recording_id}")


class RecordingMissing(ReviewError):
    """The row exists but the file does not (moved, or never fetched from Asterisk)."""
    status = 410

    def __init__(self, recording_id: int):
        super().__init__(f"the file of recording {recording_id} is not on this server")


class GrantRefused(ReviewError):
    status = 403

    def __init__(self) -> None:
        super().__init__("give a reason first: playing a recording needs a grant from POST .../play")
