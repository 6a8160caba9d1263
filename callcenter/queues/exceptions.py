from ..errors import ServiceError


class QueueError(ServiceError):
    status = 400


class QueueNotFound(QueueError):
    status = 404

    def __init__(self, name: str):
        super().__init__(f"no queue named {name!r}")


class AgentNotFound(QueueError):
    status = 404

    def __init__(self, number: str):
        super().__init__(f"no agent with number {number!r}")


class InvalidAgentTransition(QueueError):
    status = 409

    def __init__(self, current: str, wanted: str):
        super().__init__(f"an agent in state {current!r} cannot go to {wanted!r}")
        self.current, self.wanted = current, wanted


class AgentNotReady(QueueError):
    """The agent may not take calls yet, e.g. the disposition of their last call is not saved."""
    status = 409
