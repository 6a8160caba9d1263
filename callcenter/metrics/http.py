"""GET /api/metrics: the Prometheus text format, for an API client with the metrics scope (a Prometheus
server: `metrics_path: /api/metrics` and `authorization: {credentials: <secret>}` in its scrape config) or a
signed-in admin."""
from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from ..web.request import services


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/metrics", metrics, name="api_metrics")


async def metrics(request: web.Request) -> web.Response:
    body = services(request).metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
