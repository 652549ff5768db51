"""``/docs``: Swagger UI from files shipped in the package (no CDN); ReDoc is off.

The HTML is FastAPI's, pointed at ``/docs/assets/...``, which serves only the files of
:data:`ASSETS` from ``cloud/api/swagger_ui`` (``swagger-ui-dist``, see its README there).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

ASSET_DIR = Path(__file__).with_name("swagger_ui")
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
router = APIRouter(include_in_schema=False)


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    """The API's interactive documentation (send a token with "Authorize")."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title="iotgw cloud - API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon-32x32.png",
        oauth2_redirect_url=None,
    )


@router.get("/docs/assets/{name}")
def swagger_asset(name: str) -> FileResponse:
    """One of the vendored Swagger UI files."""
    media = ASSETS.get(name)
    if media is None:
        raise HTTPException(404, "no such asset")
    return FileResponse(ASSET_DIR / name, media_type=media,
                        headers={"Cache-Control": "public, max-age=86400"})
