"""The dashboard's page and assets: served without a key even when the API needs one, and not part of the API's
OpenAPI document."""

from __future__ import annotations

from tests.unit.workflows.conftest import ClientFactory


async def test_the_page_needs_no_key_while_the_api_does(make_client: ClientFactory) -> None:
    async with make_client(api_keys=["secret-key"]) as client:
        page = await client.get("/ui/")
        assert (await client.get("/workflows")).status_code == 401

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert 'src="static/app.js"' in page.text


async def test_the_bare_path_redirects_to_the_folder_the_assets_resolve_against(make_client: ClientFactory) -> None:
    async with make_client() as client:
        response = await client.get("/ui")

    assert response.status_code == 308
    assert response.headers["location"] == "/ui/"


async def test_the_scripts_and_the_vendored_chart_library_are_served(make_client: ClientFactory) -> None:
    async with make_client(api_keys=["secret-key"]) as client:
        for path in ("app.js", "util.js", "charts.js", "app.css", "vendor/uplot/uPlot.iife.min.js"):
            response = await client.get(f"/ui/static/{path}")
            assert response.status_code == 200, path


async def test_the_dashboard_is_not_in_the_openapi_document(make_client: ClientFactory) -> None:
    async with make_client() as client:
        paths = (await client.get("/openapi.json")).json()["paths"]

    assert not [path for path in paths if path.startswith("/ui")]
