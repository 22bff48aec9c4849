"""A deployment behind the API, in process, with a token of every scope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ombud.api import create_app
from ombud.deployment import Deployment, init_deployment
from ombud.ledger.log import Log
from ombud.tokens import SCOPES

NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


def follow_up_consent(subject: str) -> dict[str, object]:
    """A consent to being contacted about service requests, issuing the resident's key."""
    return {
        "subject": subject,
        "purposes": ["service-request-follow-up"],
        "dataCategories": ["contact-details"],
        "controller": "City of Example",
        "issueResidentKey": True,
    }


@dataclass
class Api:
    client: TestClient
    log: Log
    staff: str
    """A bearer token with every scope."""

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.staff}"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    data_dir = tmp_path / "city"
    init_deployment(data_dir, "api.city.example/log")
    deployment = Deployment.open(data_dir, clock=lambda: NOW, environ={})
    app = create_app(deployment, sign_checkpoints=True)
    with deployment, TestClient(app, raise_server_exceptions=False) as client:
        _, staff = app.state.deployment.tokens.create(set(SCOPES), "test", now=NOW)
        yield Api(client, app.state.deployment.log, staff)
