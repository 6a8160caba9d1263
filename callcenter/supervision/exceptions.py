"""Errors of the supervision services; `status` is the HTTP status a view should answer with."""

from ..errors import ServiceError


class SupervisionError(ServiceError):
    status = 400


class InvalidReason(SupervisionError):
    def __init__(self, message: str):
        super().__init__(message)


class InvalidMode(SupervisionError):
    def __init__(self, mode: str):
        super().__init__(f"unknown monitoring mode {mode!r}")


class InvalidEndpoint(SupervisionError):
    def __init__(self) -> None:
        super().__init__("the supervisor's phone is not a valid dial string (Tech/resource)")


class EndpointNotConfigurable(SupervisionError):
    """A monitor request named the phone to ring: only the configured phone rings."""

    def __init__(self) -> None:
        super().__init__("the phone that rings is your configured one (or the service's supervisor_phone); "
                         "a request may not name an 'endpoint'")


class CallNotFound(SupervisionError):
    status = 404

    def __init__(self, call_id: str):
        super().__init__(f"no call in progress with id {call_id!r}")


class CallNotMonitorable(SupervisionError):
    status = 409

    def __init__(self, call_id: str, state: str):
        super().__init__(f"call {call_id} is {state}: only a call connected to an agent can be monitored")


class AlreadyMonitoring(SupervisionError):
    status = 409

    def __init__(self, session_id: str):
        super().__init__(f"this supervisor is already in monitoring session {session_id}")
        self.session_id = session_id


class SessionNotFound(SupervisionError):
    status = 404

    def __init__(self, session_id: str):
        super().__init__(f"no monitoring session {session_id!r}")


class MonitorFailed(SupervisionError):
    """Asterisk refused to ring the supervisor's phone; the monitored call was not touched."""
    status = 502


class NoPhone(SupervisionError):
    status = 409

    def __init__(self) -> None:
        super().__init__("you have no phone to monitor from: an administrator sets it on your user "
                         "(phone endpoint), or the service's default supervisor phone")
