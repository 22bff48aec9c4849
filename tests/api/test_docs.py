"""/docs: Swagger UI from the installed package, started by ombud's own file, under a CSP."""

from __future__ import annotations

import re

from ombud.api.headers import PAGE_POLICY

from .conftest import Api


def test_the_docs_page_loads_nothing_from_elsewhere(api: Api) -> None:
    """Finding 7: /docs loaded swagger-ui-dist from a public CDN without an integrity check,
    a third-party script on the operator's admin page."""
    page = api.client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == PAGE_POLICY
    assert "unsafe-inline" not in PAGE_POLICY and "script-src 'self'" in PAGE_POLICY
    html = page.text
    assert "http://" not in html and "https://" not in html and "//" not in html.replace("<!--", "")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script"
    assert "style=" not in html and "<style" not in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") for s in sources)
    for source in sources:
        asset = api.client.get(source)
        assert asset.status_code == 200, source
        assert asset.headers["x-content-type-options"] == "nosniff"
        if source.endswith(".js"):
            assert asset.headers["content-type"].startswith("text/javascript")
    bundle = api.client.get("/docs/static/swagger-ui-bundle.js")
    assert b"SwaggerUIBundle" in bundle.content and len(bundle.content) > 500_000
    started = api.client.get("/docs/static/docs.js").text
    assert '"/openapi.json"' in started and "validatorUrl: null" in started
    assert api.client.get("/openapi.json").json()["info"]["title"] == "ombud"


def test_only_the_page_s_own_files_are_served(api: Api) -> None:
    for name in ("../app.py", "..%2Fapp.py", "swagger-editor.js", "LICENSE", "index.css", "x"):
        assert api.client.get(f"/docs/static/{name}").status_code == 404, name
    assert api.client.get("/redoc").status_code == 404
    assert api.client.get("/docs/oauth2-redirect").status_code == 404
