"""Group commit of residents' posts: the posts that arrive together are labelled in one model
call and stored in one durable transaction.

Threat model: batching must not weaken what one post gets alone — each post is still checked,
refused on its own (a spent token fails only its own request) and acknowledged only once the
transaction holding it is committed; a failed commit fails every post of its batch and stores
none of them. The queue is bounded, so a flood waits at the door instead of filling memory.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from ombud.errors import UnavailableError
from ombud.voice.posts import PostRequest, PostStore, Receipt

__all__ = ["PostAcceptor"]


class PostAcceptor:
    """Accepts posts from many threads; one worker labels and commits them in batches of what
    queued up while the previous batch was being stored (at most ``max_batch``)."""

    def __init__(self, posts: PostStore, *, max_batch: int = 256, max_queue: int = 4096) -> None:
        self.posts = posts
        self.max_batch = max_batch
        self._queue: queue.Queue[tuple[PostRequest, Future[Receipt]] | None] = queue.Queue(
            maxsize=max_queue
        )
        self._closed = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0
        """Transactions committed (for metrics)."""

    def accept(self, request: PostRequest, timeout: float = 60.0) -> Receipt:
        """Accept one post; returns its receipt once it is durable, or raises its refusal."""
        future: Future[Receipt] = Future()
        with self._lock:
            if self._closed:
                raise UnavailableError("the platform is shutting down; send the post again")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ombud-post-acceptor", daemon=True
                )
                self._thread.start()
        try:
            self._queue.put((request, future), timeout=timeout)
        except queue.Full:
            raise UnavailableError("too many posts are waiting; try again shortly") from None
        try:
            return future.result(timeout)
        except FutureTimeout:
            raise UnavailableError(
                "the post was not stored in time; send it again with the same token: if it was "
                "stored after all, the token is refused as spent (409)"
            ) from None

    def close(self) -> None:
        """Store what was queued, then stop."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._store(batch)

    def _store(self, batch: list[tuple[PostRequest, Future[Receipt]]]) -> None:
        try:
            outcomes = self.posts.submit_many([request for request, _ in batch])
        except Exception as exc:  # the commit failed: nothing of the batch was stored
            for _, future in batch:
                future.set_exception(exc)
            return
        self.batches += 1
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
