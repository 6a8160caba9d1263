"""The web boundary: the app factory (app.py), middlewares (middlewares.py, and the request guard guard.py),
templating (templating.py), typed request helpers with the own-desk rule (request.py), sign-in pages
(signin.py). It imports no feature package: the features import it."""
