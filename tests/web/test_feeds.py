"""Atom feeds: what an office or a clerk wrote reaches every feed reader as well-formed XML."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree

from ombud.web.feeds import FeedEntry, atom, feed_id

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
    feed = atom("office public-works", "/f.atom", [entry], origin="x.example/log")
    root = ElementTree.fromstring(feed)
    (item,) = root.iter(f"{_ATOM}entry")
    assert item.findtext(f"{_ATOM}title") == "Quiet nights\ufffd: in progress, 40%"
    summary = item.findtext(f"{_ATOM}summary")
    assert summary == "night works \ufffdpaused\ufffd, \ufffd again\tsoon\n"


def _links(feed: bytes) -> list[str]:
    return [link.attrib["href"] for link in ElementTree.fromstring(feed).iter(f"{_ATOM}link")]


def test_links_are_relative_or_under_the_public_address_and_ids_name_the_log() -> None:
    """The security review: links were built from the request's Host header. Without a
    configured public address they are relative (resolved against the feed's own address);
    with one, absolute under it; ids are the same either way and name the log, not a host."""
    entry = FeedEntry("motion-m-1", "Motion tabled", "", datetime(2026, 12, 1, tzinfo=UTC), "/b", 7)
    path = "/feeds/districts/north.atom"
    relative = atom("district north", path, [entry], origin="city.example/log")
    assert _links(relative) == [path, "/b", "/ledger/7"]
    based = atom(
        "district north", path, [entry], origin="city.example/log", base="https://c.example/o"
    )
    assert _links(based) == [f"https://c.example/o{path}", "https://c.example/o/b",
                             "https://c.example/o/ledger/7"]  # fmt: skip
    for feed in (relative, based):
        ids = [e.text for e in ElementTree.fromstring(feed).iter(f"{_ATOM}id")]
        assert ids == [feed_id("city.example/log", path),
                       feed_id("city.example/log", path, "motion-m-1")]  # fmt: skip
    assert ids[0].startswith("urn:uuid:") and ids[0] != ids[1]
    assert feed_id("other.example/log", path) != ids[0]
