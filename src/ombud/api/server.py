"""``ombud serve``: run the API with uvicorn on the configured loopback address."""

from __future__ import annotations

import logging

import uvicorn

from ombud.api.app import create_app
from ombud.config import Settings, parse_listen


def run_server(settings: Settings) -> None:
    host, port = parse_listen(settings.server.listen)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per witness request is noise
    app = create_app(settings, sign_checkpoints=True, screen=True)
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
