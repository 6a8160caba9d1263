"""The admin console's import page: upload a CSV file of patients, appointments or encounters, see the
report (counts, every bad row by line and column). The answer to the upload is the report itself, not a
redirect: nothing about the file (its name, a value) goes into a URL, and the file is never logged."""
from __future__ import annotations

from aiohttp import web
from aiohttp.web_request import FileField

from ..web.guard import USER
from ..web.middlewares import allow_upload
from ..web.request import SERVICES, services
from ..web.templating import form_text, render_with_notice
from .csvfile import COLUMNS, KINDS
from .services import ImportOptions, ImportReport

UPLOAD_ROUTE = "admin_import_run"
FLASH = "admin_notice"
SHOWN_ERRORS = 500  # on the page; the counts say how many more


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/admin/imports", imports_page, name="admin_imports")
    app.router.add_post("/admin/imports", import_run, name=UPLOAD_ROUTE)
    allow_upload(app, UPLOAD_ROUTE, app[SERVICES].cfg.imports.max_upload_bytes)


async def imports_page(request: web.Request, report: ImportReport | None = None, error: str = "",
                       chosen: dict | None = None, status: int = 200) -> web.Response:
    chosen = chosen or {"kind": "patients", "dry_run": False, "good_rows": False}
    context = {"tab": "imports", "kinds": KINDS, "columns": COLUMNS, "report": report, "error": error,
               "chosen": chosen, "shown_errors": SHOWN_ERRORS}
    return await render_with_notice(request, "admin_imports.html", FLASH, context, status=status)


async def import_run(request: web.Request) -> web.Response:
    data = await request.post()
    kind = form_text(data, "kind")
    chosen = {"kind": kind, "dry_run": bool(form_text(data, "dry_run")),
              "good_rows": bool(form_text(data, "good_rows"))}
    upload = data.get("file")
    if kind not in KINDS:
        return await imports_page(request, error="choose what the file holds", chosen=chosen, status=400)
    if not isinstance(upload, FileField):
        return await imports_page(request, error="choose a CSV file", chosen=chosen, status=400)
    content = upload.file.read()
    options = ImportOptions(dry_run=chosen["dry_run"], good_rows=chosen["good_rows"])
    report = await services(request).imports.import_csv(kind, content, options,
                                                        actor_user_id=request[USER].id)
    return await imports_page(request, report=report, chosen=chosen, status=200 if not report.errors else 422)
