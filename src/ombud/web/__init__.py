"""The transparency portal: what an official, a resident and an auditor see, served by
``ombud serve`` under ``/`` (DESIGN §8).

Threat model: public pages show public data only and load nothing but this server's own
assets; a resident's pages need their session and are never cached; ledger events are
verified in the reader's browser against keys the page shows, so the server is trusted for
nothing it could lie about undetected.
"""

from ombud.web.pages import MAP_FILE, create_router

__all__ = ["MAP_FILE", "create_router"]
