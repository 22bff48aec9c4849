"""Group commit of posts: posts arriving together are labelled and committed together, and
each is still refused on its own."""

from __future__ import annotations

import threading

import pytest

from ombud.errors import OmbudError, ReplayError
from ombud.events import Event
from ombud.voice.acceptance import PostAcceptor
from ombud.voice.posts import PostRequest, Submission

from .conftest import Voice


def test_a_batch_stores_the_good_posts_and_refuses_each_bad_one_alone(voice: Voice) -> None:
    spent = voice.token()
    voice.posts.submit(Submission("The bins were not collected again", "harbour"), spent)
    size = voice.log.size
    requests = [
        PostRequest(Submission("Bus 12 was late three times", "north"), voice.token()),
        PostRequest(Submission("Spent already", "north"), spent),
        PostRequest(Submission("Not a token", "north"), b"\x00\x02" + b"x" * 100),
        PostRequest(Submission("Lovely new benches in the park", "centre"), voice.token()),
    ]
    outcomes = voice.posts.submit_many(requests)
    assert isinstance(outcomes[1], ReplayError)
    assert isinstance(outcomes[2], OmbudError)  # refused with its reason, like alone
    stored = [o for o in outcomes if hasattr(o, "post")]
    assert len(stored) == 2 and voice.log.size == size + 2
    for receipt in stored:
        event = Event.from_bytes(voice.log.entry(receipt.post.ledger_index))  # type: ignore[union-attr]
        assert event.kind == "post.accepted"
    assert len(voice.reports.list()) == 3


def test_posts_from_many_threads_are_committed_in_fewer_transactions(voice: Voice) -> None:
    acceptor = PostAcceptor(voice.posts, max_batch=64)
    tokens = [voice.token() for _ in range(40)]
    receipts: list[object] = []
    lock = threading.Lock()

    def post(token: bytes) -> None:
        receipt = acceptor.accept(
            PostRequest(Submission("The streetlights are out", "north"), token)
        )
        with lock:
            receipts.append(receipt)

    threads = [threading.Thread(target=post, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    acceptor.close()
    assert len(receipts) == 40 and len({r.post.ledger_index for r in receipts}) == 40  # type: ignore[attr-defined]
    assert 1 <= acceptor.batches < 40
    with pytest.raises(ReplayError):  # a token is spent once, batched or not
        voice.posts.submit(Submission("Again", "north"), tokens[0])
