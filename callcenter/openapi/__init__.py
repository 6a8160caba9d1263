"""The OpenAPI 3.1 document of the HTTP interface (issue 15): built from the router and the `openapi.yaml`
of each package that handles routes (document.py), served at /api/openapi.json with a docs page (http.py)."""
