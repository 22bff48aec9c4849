"""Atom feeds (RFC 4287) of public business, per district and per office: motions tabled and
decided, votes signed, results promised and updated — each entry linking to its page and to
the ledger entry a resident can check in the browser.

Threat model: feeds repeat what the public pages and the ledger say, nothing more (no resident
appears in them); the XML is built by ``xml.etree`` from values, never by pasting strings, so a
title cannot inject markup, and a character XML 1.0 cannot carry (a control character in an
office's signed note, recorded before such text was refused) is written as U+FFFD rather than
making the whole feed unreadable; a feed holds at most ``MAX_ENTRIES`` entries. Nothing in a
feed comes from the request: its links are absolute under the configured public address
(``server.public_url``) or, without one, relative (RFC 4287 §4.2.7.1 allows an IRI reference,
resolved against the feed's own address), never built from a Host header anyone can set; ids
are ``urn:uuid`` names derived from the log's origin, so they do not change with the address.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from ombud.clock import format_time

if TYPE_CHECKING:
    from ombud.deployment import Deployment

__all__ = ["MAX_ENTRIES", "FeedEntry", "atom", "entries", "feed_id"]

MAX_ENTRIES = 100
_ATOM = "http://www.w3.org/2005/Atom"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters outside XML 1.0's Char production: ``xml.etree`` writes them as they are, and a
feed reader then refuses the whole document."""


def _xml(text: str) -> str:
    """``text`` as XML 1.0 can carry it: each character it cannot, as U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


@dataclass(frozen=True)
class FeedEntry:
    id: str
    title: str
    summary: str
    at: datetime
    page: str
    ledger_index: int


def _entry_time(deployment: Deployment, index: int) -> datetime:
    from ombud.events import Event

    return Event.from_bytes(deployment.log.entries(index, index + 1)[0]).at


def entries(deployment: Deployment, kind: str, name: str) -> list[FeedEntry]:
    """The entries of a district's feed (``kind`` "districts") or an office's ("offices")."""
    found: list[FeedEntry] = []
    for record in deployment.decisions.all():
        motion = record.motion
        page = f"/business/decisions/{motion.id}"
        if kind == "districts" and motion.district == name:
            found.append(
                FeedEntry(
                    f"motion-{motion.id}",
                    f"Motion tabled: {motion.title}",
                    f"Decided by the {motion.body}; voting closes {format_time(motion.closes)}.",
                    _entry_time(deployment, record.tabled_index),
                    page,
                    record.tabled_index,
                )
            )
            if record.tally is not None and record.decided_index is not None:
                t = record.tally
                found.append(
                    FeedEntry(
                        f"decision-{motion.id}",
                        f"Decision: {motion.title} — {t.outcome}",
                        f"{t.yes} yes, {t.no} no, {t.abstain} abstain.",
                        _entry_time(deployment, record.decided_index),
                        page,
                        record.decided_index,
                    )
                )
        if kind == "offices":
            for vote, index in deployment.decisions.votes(motion.id):
                if vote.holder == name:
                    found.append(
                        FeedEntry(
                            f"vote-{motion.id}-{name}",
                            f"{name} voted {vote.choice}: {motion.title}",
                            "A vote signed with the member's key.",
                            _entry_time(deployment, index),
                            page,
                            index,
                        )
                    )
    for result, history in deployment.results.tracked():
        mine = result.district == name if kind == "districts" else result.responsible == name
        if not mine:
            continue
        for update, at, index in history:
            found.append(
                FeedEntry(
                    f"result-{result.id}-{update.sequence}",
                    f"{result.title}: {update.status.replace('-', ' ')}, {update.progress}%",
                    update.note or f"Signed by {update.holder}.",
                    at,
                    "/business",
                    index,
                )
            )
    found.sort(key=lambda e: (e.at, e.ledger_index), reverse=True)
    return found[:MAX_ENTRIES]


def feed_id(origin: str, path: str, entry: str = "") -> str:
    """The atom:id of the feed at ``path`` (or of its entry ``entry``): a name-based UUID
    (RFC 9562 version 5) of the log's origin, the path and the entry, the same whatever address
    the feed was fetched at or the deployment later publishes."""
    name = f"ombud-feed:{origin}{path}" + (f"#{entry}" if entry else "")
    return uuid.uuid5(uuid.NAMESPACE_URL, name).urn


def atom(title: str, path: str, items: list[FeedEntry], *, origin: str, base: str = "") -> bytes:
    """The Atom document (UTF-8) at ``path`` for ``items``: links under ``base`` (the configured
    public address, without a trailing slash) or relative when it is empty."""
    ET.register_namespace("", _ATOM)
    feed = ET.Element(f"{{{_ATOM}}}feed")
    ET.SubElement(feed, f"{{{_ATOM}}}id").text = feed_id(origin, path)
    ET.SubElement(feed, f"{{{_ATOM}}}title").text = _xml(f"ombud — public business of {title}")
    updated = max((e.at for e in items), default=None)
    ET.SubElement(feed, f"{{{_ATOM}}}updated").text = (
        format_time(updated) if updated else "1970-01-01T00:00:00Z"
    )
    ET.SubElement(feed, f"{{{_ATOM}}}link", rel="self", href=f"{base}{path}")
    author = ET.SubElement(feed, f"{{{_ATOM}}}author")
    ET.SubElement(author, f"{{{_ATOM}}}name").text = "ombud"
    for e in items:
        entry = ET.SubElement(feed, f"{{{_ATOM}}}entry")
        ET.SubElement(entry, f"{{{_ATOM}}}id").text = feed_id(origin, path, e.id)
        ET.SubElement(entry, f"{{{_ATOM}}}title").text = _xml(e.title)
        ET.SubElement(entry, f"{{{_ATOM}}}updated").text = format_time(e.at)
        ET.SubElement(entry, f"{{{_ATOM}}}summary").text = _xml(e.summary)
        ET.SubElement(entry, f"{{{_ATOM}}}link", rel="alternate", href=f"{base}{e.page}")
        ET.SubElement(
            entry, f"{{{_ATOM}}}link", rel="related", href=f"{base}/ledger/{e.ledger_index}"
        )
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + bytes(ET.tostring(feed, encoding="utf-8"))
