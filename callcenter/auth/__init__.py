"""Sign-in, sessions, CSRF and role permissions for the console (see middleware.py for the request path)."""
