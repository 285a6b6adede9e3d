"""The web dashboard at `/ui`: one static page and the script that calls the JSON API from the browser.

The page carries no data and needs no API key: every call it makes goes to the API at the same origin with the
key the browser holds (see docs/dashboard.md). Served outside the API's guard and left out of the OpenAPI
document, which describes the API only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
# The page and its script change with each release; a browser revalidates rather than running a stale copy.
NO_STALE = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


@router.get("/ui")
async def dashboard_root() -> RedirectResponse:
    # Relative asset URLs in the page resolve against /ui/, not /.
    return RedirectResponse("/ui/", status_code=308)


@router.get("/ui/")
async def dashboard_page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=NO_STALE)


def install_dashboard(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="dashboard-static")
