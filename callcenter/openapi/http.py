"""The API document at /api/openapi.json and its docs page (Swagger UI, its assets from the swagger-ui-py
package, served here: no CDN).

Who may read them: every signed-in user and the API token, not anonymous visitors. The document holds no
patient data, but it maps the whole attack surface of a system with patient records; the people who need it
(integrators, the hospital's IT) have an account or the API token.
"""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ..web.request import SERVICES
from ..web.templating import render
from . import document


class ApiDocument:
    """The document of one application, built on first use from its finished router (set on the app before
    it starts, which freezes the app's own state)."""

    def __init__(self, app: web.Application):
        self._app = app
        self._document: document.Document | None = None

    def get(self) -> document.Document:
        if self._document is None:
            services = self._app[SERVICES]
            self._document = document.build(self._app.router, cookie_name=services.auth.settings.cookie_name,
                                            behind_proxy=bool(services.cfg.http.trusted_proxies.strip()))
        return self._document


DOCUMENT = web.AppKey("openapi_document", ApiDocument)


def setup_routes(app: web.Application) -> None:
    app[DOCUMENT] = ApiDocument(app)
    app.router.add_get("/api/openapi.json", serve_document, name="api_openapi")
    app.router.add_get("/docs/api", docs_page, name="api_docs")
    app.router.add_static("/docs/api/assets", swagger_ui_assets(), name="api_docs_assets")


def swagger_ui_assets() -> Path:
    import swagger_ui  # the package that vendors Swagger UI's dist files
    return Path(swagger_ui.__file__).with_name("static")


async def serve_document(request: web.Request) -> web.Response:
    return web.json_response(request.app[DOCUMENT].get().spec)


async def docs_page(request: web.Request) -> web.Response:
    return await render(request, "api_docs.html", {"section": "api"})
