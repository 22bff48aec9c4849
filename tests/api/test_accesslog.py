"""The request log: the route's template, never an id from the path — and for a path no route
answers, its first segment only."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ombud.api.accesslog import AccessLog
from ombud.api.problems import unexpected_error_handler

POST_ID = "5f0c" * 8


def test_ids_in_paths_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI()

    @app.get("/voice/posts/{post_id}")
    def post(post_id: str) -> dict[str, str]:
        return {}

    app.add_middleware(AccessLog)
    caplog.set_level(logging.INFO, logger="ombud.access")
    with TestClient(app) as client:
        assert client.get(f"/voice/posts/{POST_ID}").status_code == 200
        assert client.get(f"/open311/v2/requests/{POST_ID}.xml").status_code == 404
        assert client.get(f"/voice/posts/{POST_ID}/x").status_code == 404
        assert client.get("/nowhere").status_code == 404
    lines = [r.getMessage() for r in caplog.records if r.name == "ombud.access"]
    assert POST_ID not in "\n".join(lines)
    assert lines[0].startswith('"GET /voice/posts/{post_id}" 200')
    assert lines[1].startswith('"GET /open311/… (no route)" 404')
    assert lines[2].startswith('"GET /voice/… (no route)" 404')
    assert lines[3].startswith('"GET /nowhere (no route)" 404')


def test_a_bug_is_logged_with_the_route_not_the_id(caplog: pytest.LogCaptureFixture) -> None:
    """The traceback of an unexpected error names the route's template, as the request log
    does: a post id is half its writer's receipt."""
    app = FastAPI()
    app.add_exception_handler(Exception, unexpected_error_handler)

    @app.get("/voice/posts/{post_id}")
    def post(post_id: str) -> dict[str, str]:
        raise RuntimeError("a bug")

    caplog.set_level(logging.INFO)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get(f"/voice/posts/{POST_ID}").status_code == 500
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("ombud"))
    assert "unexpected error on GET /voice/posts/{post_id}" in logged and POST_ID not in logged
