"""Every governance document parser, fed hostile JSON: a valid document with one field (at any
depth) replaced by a value of any type, or any JSON at all — each is refused with an
``OmbudError`` (a 400 over HTTP), never another exception (a 500). A purely random document
rarely gets past the first check; mutating a valid one reaches every check (it found a
``TypeError`` in six of them)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ombud.access.requests import AccessRequest
from ombud.errors import OmbudError
from ombud.governance.decisions import Motion, Vote
from ombud.governance.results import Result, ResultUpdate, sign_update
from ombud.governance.roster import ActionRequest, Approval, Roster
from ombud.governance.tenders import Commitment, Evaluation, Reveal, Tender, evaluate
from tests.access.test_book import _request
from tests.governance.test_decisions import MOTION, ORIGIN, vote
from tests.governance.test_results import RESULT
from tests.governance.test_roster import GENESIS, KEYS, request, signed
from tests.governance.test_tenders import TENDER, bid, committed, revealed

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _valid() -> dict[str, tuple[Callable[[Any], Any], Any]]:
    lumen = bid("lumen-co", 100_000)
    commitment = committed("lumen-co", *lumen)
    first = sign_update(
        RESULT.id, 0, "planned", 0, "", "officer-a", KEYS["officer-a"], RESULT, origin=ORIGIN
    )
    motion = MOTION.to_json()
    motion.pop("textSha256")
    return {
        "tender": (Tender.from_json, TENDER.to_json()),
        "commitment": (Commitment.from_json, commitment.to_json()),
        "reveal": (Reveal.from_json, revealed("lumen-co", *lumen).to_json()),
        "evaluation": (
            Evaluation.from_json,
            evaluate(TENDER, [(1, commitment)], 5, {}).to_json(),
        ),
        "motion": (Motion.from_json, motion),
        "vote": (Vote.from_json, vote("council-1", "yes").to_json()),
        "result": (Result.from_json, RESULT.to_json()),
        "update": (ResultUpdate.from_json, first.to_json()),
        "request": (ActionRequest.from_json, request(GENESIS).to_json()),
        "approval": (Approval.from_json, signed(request(GENESIS), "officer-a")[0].to_json()),
        "roster": (Roster.from_json, GENESIS.to_json()),
        "access": (AccessRequest.from_json, _request().to_json()),
    }


VALID = _valid()


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[path[0]] = _replace(doc[path[0]], path[1:], value)
    return copy


@pytest.mark.parametrize("kind", sorted(VALID))
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_hostile_documents_are_refused_as_malformed(kind: str, data: st.DataObject) -> None:
    parse, valid = VALID[kind]
    parse(valid)  # the starting point is valid
    path = data.draw(st.sampled_from(_paths(valid)))
    hostile = _replace(valid, path, data.draw(JSON))
    with contextlib.suppress(OmbudError):
        parse(hostile)
