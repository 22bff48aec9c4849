"""``ombud serve``: run the API with uvicorn on the configured address.

Threat model: the server faces the network. Its logs must never hold a client's address (a
resident's post would be linked to their network), so uvicorn's access log is replaced by
``ombud.api.accesslog``; forwarded headers (``X-Forwarded-For``) are believed only from the
proxies named in ``server.trusted_proxies`` (none by default); header size and the time a
request may take to arrive are capped by ``ombud.api.protocol``, bodies by
``ombud.api.limits``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from ombud.api.app import create_app
from ombud.api.protocol import limited_protocol
from ombud.config import Settings
from ombud.deployment import Deployment
from ombud.listen import parse_listen

_log = logging.getLogger("ombud.serve")


def startup_warnings(settings: Settings) -> list[str]:
    """What an operator should fix before residents use this server, one line each."""
    warnings = []
    if not settings.server.public_url:
        warnings.append(
            "server.public_url is unset: feeds carry relative links, the verify page shows a "
            "placeholder address and forms are checked against the request's Host header; set "
            "it (or OMBUD_SERVER_PUBLIC_URL) to the https address residents use"
        )
    return warnings


def run_server(settings: Settings, factory: Callable[..., FastAPI] = create_app) -> None:
    """Serve ``factory(deployment, …)`` (the API; ``ombud serve`` passes the portal's, which
    adds the pages under ``/``)."""
    host, port = parse_listen(settings.server.listen)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per witness request is noise
    for warning in startup_warnings(settings):
        _log.warning(warning)
    proxies = settings.server.proxy_list()
    with Deployment.open(settings.data_dir, settings=settings) as deployment:
        app = factory(deployment, sign_checkpoints=True, screen=True, access_log=True)
        uvicorn.run(
            app,
            host=host,
            port=port,
            http=limited_protocol(
                settings.server.max_header_bytes, settings.server.request_timeout_s
            ),
            log_level="info",
            access_log=False,
            server_header=False,
            limit_concurrency=settings.server.max_connections,
            proxy_headers=bool(proxies),
            forwarded_allow_ips=",".join(proxies) if proxies else None,
        )
