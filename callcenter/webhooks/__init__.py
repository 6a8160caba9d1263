"""Events out (issue 15): webhooks an admin subscribes a hospital system to, signed, retried, never lost."""
