class InvalidTransition(Exception):
    """An event arrived that the call's current state does not allow."""

    def __init__(self, state: str, event: str):
        super().__init__(f"event {event} is not allowed in state {state}")
        self.state, self.event = state, event
