"""Flags: a coordinated burst is flagged, left out of counts, listed publicly by its leaf
and released once, with a reason (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from ombud.errors import NotFoundError
from ombud.events import Event
from ombud.release import AlreadyReleasedError
from ombud.voice.posts import Submission

from .conftest import ORGANIC, Voice

CAMPAIGN = [
    "The new {x} scheme in the centre is a disgrace, scrap it now",
    "This {x} scheme in the centre is a total disgrace, scrap it now!!",
    "the new {x} scheme in the centre is a disgrace... scrap it now",
    "Honestly the new {x} scheme in the centre is a disgrace scrap it now",
    "The new {x} scheme in the centre is a disgrace, scrap it NOW #fail",
    "The new {x} scheme in our centre is a disgrace, scrap it now",
]


def test_a_coordinated_burst_is_flagged_left_out_and_can_be_released(voice: Voice) -> None:
    organic = [
        voice.posts.submit(Submission(text, "centre"), voice.token()).post for text in ORGANIC
    ]
    campaign = []
    for text in CAMPAIGN:
        voice.clock.advance(minutes=7)
        campaign.append(
            voice.posts.submit(Submission(text.format(x="parking"), "centre"), voice.token()).post
        )
    flagged = voice.flags.screen()
    assert flagged == len(CAMPAIGN) - 1  # the earliest copy is kept as a genuine voice
    assert voice.flags.screen() == 0  # never flagged twice
    ids = {p.id for p in voice.reports.list(flagged=True)}
    assert ids == {p.id for p in campaign[1:]}
    assert not ids & {p.id for p in organic}
    event = Event.from_bytes(voice.log.entry(voice.log.size - 1))
    assert event.kind == "post.flagged" and event.body["check"] == "near_duplicate"
    assert set(event.body) == {"v", "commitment", "check", "evidence"}  # no labels, no id
    assert event.body["commitment"] in {p.commitment.hex() for p in campaign[1:]}
    public = voice.flags.list()
    assert {f.commitment for f in public} == {p.commitment for p in campaign[1:]}
    assert all(f.check == "near_duplicate" and f.released_index is None for f in public)
    summary = voice.reports.sentiment(district="centre").to_json()
    assert summary["tokened"]["posts"] == len(ORGANIC) + 1
    assert summary["flaggedExcluded"] == len(CAMPAIGN) - 1

    released = voice.flags.release(campaign[1].id, "checked by hand", actor="operator")
    assert released.counted and released.flag == "near_duplicate"
    release = Event.from_bytes(voice.log.entry(voice.log.size - 1))
    assert release.body == {
        "v": 2,
        "commitment": campaign[1].commitment.hex(),
        "released": True,
        "reason": "checked by hand",
    }
    assert voice.reports.sentiment(district="centre").to_json()["flaggedExcluded"] == 4
    with pytest.raises(AlreadyReleasedError):  # 409: counted already
        voice.flags.release(campaign[1].id, "again", actor="operator")
    with pytest.raises(NotFoundError):
        voice.flags.release(organic[0].id, "not flagged", actor="operator")
