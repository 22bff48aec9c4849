"""Atom feeds: what an office or a clerk wrote reaches every feed reader as well-formed XML."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree

from ombud.web.feeds import FeedEntry, atom

_ATOM = "{http://www.w3.org/2005/Atom}"


def test_a_control_character_in_recorded_text_leaves_the_feed_well_formed() -> None:
    # A note like this was recorded before such text was refused (a vertical tab, a NUL):
    # xml.etree wrote it as it was, and feed readers refused the whole feed.
    entry = FeedEntry(
        "result-r-1-2",
        "Quiet nights\x0b: in progress, 40%",
        "night works \x00paused\x01, \ufffe again\tsoon\n",
        datetime(2026, 12, 1, tzinfo=UTC),
        "/business",
        7,
    )
    feed = atom("office public-works", "http://x/f.atom", "http://x", [entry])
    root = ElementTree.fromstring(feed)
    (item,) = root.iter(f"{_ATOM}entry")
    assert item.findtext(f"{_ATOM}title") == "Quiet nights\ufffd: in progress, 40%"
    summary = item.findtext(f"{_ATOM}summary")
    assert summary == "night works \ufffdpaused\ufffd, \ufffd again\tsoon\n"
