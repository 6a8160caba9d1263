from ..errors import ServiceError


class InvalidTransition(Exception):
    """An event arrived that the call's current state does not allow."""

    def __init__(self, state: str, event: str):
        super().__init__(f"event {event} is not allowed in state {state}")
        self.state, self.event = state, event


class ControlError(ServiceError):
    """A call control the agent asked for cannot be done; `status` is the HTTP answer."""
    status = 409


class CallNotFound(ControlError):
    status = 404


class BadControl(ControlError):
    status = 400


class ControlNotAllowed(ControlError):
    """The call's state does not allow it (hold an ended call, complete a transfer that was never started)."""
    status = 409


class TargetUnavailable(ControlError):
    """The agent to transfer to is not free, or no agent of the queue is."""
    status = 409
