"""Request bodies at the door: a body sent with a content coding no route decodes is refused,
in its route family's format, before any of it is read or acted on."""

from __future__ import annotations

import gzip
import json

from tests.api.conftest import Api


def test_a_body_with_a_content_coding_is_refused_unread(api: Api) -> None:
    # Finding: a gzip body was read as it came, "not JSON: 'utf-8' codec can't decode byte
    # 0x8b" (400), and a plain body declared gzip was acted on as if the header were not there.
    body = json.dumps({"dataset": "satisfaction", "period": "2026-12"}).encode()
    size = api.log.size
    for content, coding in ((gzip.compress(body), "gzip"), (body, "gzip"), (body, "br, gzip")):
        refused = api.client.post(
            "/privacy/releases",
            content=content,
            headers={**api.bearer, "Content-Type": "application/json", "Content-Encoding": coding},
        )
        assert refused.status_code == 415, refused.text
        assert "Content-Encoding" in refused.json()["detail"]
        assert refused.headers["accept-encoding"] == "identity"
        assert refused.headers["x-content-type-options"] == "nosniff"
    open311 = api.client.post(
        "/open311/v2/requests.json",
        content=gzip.compress(b"service_code=waste"),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"},
    )
    assert open311.status_code == 415 and open311.json()[0]["code"] == 415
    ngsi = api.client.post(
        "/ngsi-ld/v1/entities",
        content=gzip.compress(b"{}"),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert ngsi.status_code == 415 and ngsi.json()["type"].startswith("https://uri.etsi.org/")
    assert api.log.size == size
    # identity is no coding, and a request without a body has nothing to decode
    plain = api.client.post(
        "/voice/receipts",
        content=b'{"post": "' + b"0" * 32 + b'", "salt": "' + b"A" * 43 + b'"}',
        headers={"Content-Type": "application/json", "Content-Encoding": "identity"},
    )
    assert plain.status_code == 404
    assert api.client.get("/voice/cover", headers={"Content-Encoding": "gzip"}).status_code == 200
