"""Coordinated campaigns among citizen posts: near-duplicate bursts, rate anomalies, busy authors.

Threat model: one token per resident per period bounds what one person posts, not how many
people (or bought tokens, or imported accounts) paste one script; a flood of copies can drown the
real signal in district-by-service satisfaction. Flagging is itself a power — it can silence a
genuine grievance — so every rule keeps the first voice, a surge of *different* complaints is
reported but never flagged, and each flag carries the evidence an auditor needs to redo it.
Flagged posts are kept, reported and left out of aggregates like quarantined readings
(DESIGN §5, §6); nothing here deletes or changes a post.

Method (pure: posts in, flags out; deterministic for a given seed, independent of input order):

* Near-duplicate bursts, the "copypasta" signal of coordinated accounts (Keller et al.,
  "Political Astroturfing on Twitter", *Political Communication* 37(2), 2020 — co-tweeting;
  Pacheco et al., "Uncovering Coordinated Networks on Social Media", ICWSM 2021). Texts are
  compared by the resemblance (Jaccard index) of their character 5-gram shingles (Broder, "On
  the resemblance and containment of documents", SEQUENCES 1997), estimated with MinHash and
  searched with LSH banding (Leskovec, Rajaraman & Ullman, *Mining of Massive Datasets*, 3rd
  ed., ch. 3), both from ``datasketch``. LSH candidates are verified with the MinHash estimate,
  verified pairs are joined into clusters (union-find, connected components), and a cluster
  with at least ``min_cluster`` members inside one sliding ``window_s`` is a burst.
* Rate anomalies per (district, service): the posts in each ``rate_bucket_s`` bucket against
  the median and MAD of the same key's preceding buckets (a week, empty buckets included;
  Hampel 1974; Leys et al., "Detecting outliers: do not use standard deviation around the
  mean, use absolute deviation around the median", *JESP* 49(4), 2013), with a Poisson floor
  ``sqrt(median) + 1`` on the scale so a quiet key is not alarmed by a handful of posts.
* Busy authors (imported posts only): at most ``author_max`` kept posts per author pseudonym in
  any ``author_window_s`` — the sliding-window twin of the one-token-per-period bound of DESIGN §6.

Why character 5-grams rather than word shingles: campaigns vary their copies precisely to
defeat exact matching — typos, swapped words, emoji and hashtags, a clause moved. A typo or a
swapped word breaks three word 3-grams of a 25-word text (about 12% of them each) but only four
or five of its ~150 character 5-grams (about 3%), and moving a clause changes only the shingles
across the cut. Unrelated posts on one topic still share few 5-grams ("recycling centre",
"the council"), far below the 0.6 threshold.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import re
import statistics
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from datasketch import MinHash, MinHashLSH  # type: ignore[import-untyped]

from ombud.errors import ConfigError, MalformedError
from ombud.integrity.aggregate import MAD_SCALE, mad

__all__ = [
    "CHECKS",
    "CoordinationFlag",
    "CoordinationSettings",
    "NearDuplicateCluster",
    "PostFacts",
    "RateAnomaly",
    "detect",
    "near_duplicate_clusters",
    "rate_anomalies",
    "shingles",
    "words",
]

CHECKS = ("near_duplicate", "author", "rate")
"""The checks, in priority order: a post flagged by several carries only the first one's flag."""

_WORD = re.compile(r"[^\W_]+")
_LSH_WEIGHTS = (0.2, 0.8)
"""LSH banding tuned towards recall (a false negative weighs four times a false positive):
every candidate is verified with the MinHash estimate anyway, so a false positive costs one
comparison while a false negative can split a campaign. With 128 permutations and a 0.6
threshold datasketch picks 23 bands of 5 rows: a pair at resemblance 0.6 becomes a candidate
with probability 0.85, at 0.7 with 0.985, at 0.3 with 0.05."""
_SAMPLE = 5


@dataclass(frozen=True)
class PostFacts:
    """What detection sees of a post: when, where, about what, its normalised text and — for an
    imported post only — the keyed pseudonym of its author (``None`` for token-backed posts)."""

    post_id: str
    at: int
    district: str
    service: str
    text: str
    author: str | None

    def __post_init__(self) -> None:
        if not isinstance(self.post_id, str) or not self.post_id:
            raise MalformedError("a post needs a non-empty post_id")
        if isinstance(self.at, bool) or not isinstance(self.at, int) or self.at < 0:
            raise MalformedError(f"post {self.post_id}: time must be non-negative unix seconds")
        if not isinstance(self.district, str) or not self.district.strip():
            raise MalformedError(f"post {self.post_id}: district must not be empty")
        if not isinstance(self.service, str) or not self.service.strip():
            raise MalformedError(f"post {self.post_id}: service must not be empty")
        if not isinstance(self.text, str):
            raise MalformedError(f"post {self.post_id}: text must be a string")
        if self.author is not None and (not isinstance(self.author, str) or not self.author):
            raise MalformedError(f"post {self.post_id}: author must be a pseudonym or None")


@dataclass(frozen=True)
class CoordinationFlag:
    """One flagged post: which check, one sentence why, and JSON-serialisable evidence. The
    evidence names posts by id and never carries text or an author pseudonym."""

    post_id: str
    check: str
    reason: str
    evidence: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "evidence", MappingProxyType(dict(self.evidence)))


@dataclass(frozen=True)
class CoordinationSettings:
    """Thresholds of the three checks; the defaults suit a city's hourly trickle of posts."""

    shingle: int = 5
    """Length of the character n-grams shingled from the normalised words (see module doc)."""
    num_perm: int = 128
    threshold: float = 0.5
    """Estimated Jaccard resemblance at or above which two posts are near duplicates. On 1,000
    TweetEval tweets spread over a week no two organic posts were joined at 0.5 (nor at 0.45),
    while reworded campaign variants (bench/campaign.py) were joined more often than at 0.6."""
    min_cluster: int = 4
    """A burst needs at least this many near duplicates, and a rate anomaly this many posts…"""
    window_s: int = 7 * 86_400
    """…within this window. A week: a campaign spread over days is as coordinated as one
    posted within the hour (at one day, spread campaigns were flagged 67%, at a week 91%)."""
    author_window_s: int = 86_400
    """The window of the author bound."""
    min_words: int = 5
    """Texts of fewer words are never clustered: "great service", "thank you so much" are said
    alike by many people, and a copy cannot be told from a coincidence."""
    rate_bucket_s: int = 3600
    rate_z: float = 4.0
    """Robust z at or above which a bucket's count is anomalous."""
    rate_history_s: int = 7 * 86_400
    """How far back a bucket's baseline reaches (empty buckets count as zero)."""
    rate_min_history_s: int = 86_400
    """Buckets with less history than this before them (from the first post seen) are not
    judged: a baseline of a few hours says little."""
    author_max: int = 3
    """Imported posts per author kept in any window; the rest are flagged."""
    seed: int = 1
    """Seed of the MinHash permutations (results are deterministic for a given seed)."""

    def __post_init__(self) -> None:
        checks: list[tuple[bool, str]] = [
            (self.shingle >= 1, "shingle must be at least 1"),
            (16 <= self.num_perm <= 1024, "num_perm must be within 16..1024"),
            (0.0 < self.threshold <= 1.0, "threshold must be in (0, 1]"),
            (self.min_cluster >= 2, "min_cluster must be at least 2"),
            (self.window_s >= 1, "window_s must be positive"),
            (self.author_window_s >= 1, "author_window_s must be positive"),
            (self.min_words >= 1, "min_words must be at least 1"),
            (self.rate_bucket_s >= 1, "rate_bucket_s must be positive"),
            (self.rate_z > 0, "rate_z must be positive"),
            (self.rate_history_s >= self.rate_bucket_s, "rate_history_s must cover a bucket"),
            (
                0 <= self.rate_min_history_s <= self.rate_history_s,
                "rate_min_history_s must be within 0..rate_history_s",
            ),
            (self.author_max >= 1, "author_max must be at least 1"),
            (0 <= self.seed < 2**32, "seed must be within 0..2**32-1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


@dataclass(frozen=True)
class NearDuplicateCluster:
    """Posts joined by verified near-duplicate pairs (a connected component of two or more).

    ``members`` are in (time, post_id) order, so ``members[0]`` is the earliest — the voice a
    burst keeps. ``burst`` is the most members inside any one window; ``in_burst`` the members
    that lie in some window holding at least ``min_cluster`` of them (empty when none does)."""

    cluster_id: str
    members: tuple[str, ...]
    burst: int
    in_burst: frozenset[str]

    @property
    def is_burst(self) -> bool:
        return bool(self.in_burst)


@dataclass(frozen=True)
class RateAnomaly:
    """A (district, service) bucket with far more posts than its history leads to expect."""

    district: str
    service: str
    start: int
    bucket_s: int
    count: int
    median: float
    mad: float
    scale: float
    z: float
    history_buckets: int
    posts: tuple[str, ...]

    def evidence(self) -> dict[str, object]:
        return {
            "district": self.district,
            "service": self.service,
            "bucket_start": self.start,
            "bucket_s": self.bucket_s,
            "count": self.count,
            "baseline_median": self.median,
            "baseline_mad": self.mad,
            "scale": round(self.scale, 3),
            "z": round(self.z, 2),
            "history_buckets": self.history_buckets,
        }


def words(text: str) -> list[str]:
    """The case-folded words of ``text``: runs of letters and digits. Punctuation, emoji, ``#``
    and ``@`` marks go (for shingling only; the post itself is untouched)."""
    return _WORD.findall(text.casefold())


def shingles(text: str, n: int = 5) -> set[str]:
    """The character ``n``-grams of the text's words joined by single spaces."""
    joined = " ".join(words(text))
    if len(joined) <= n:
        return {joined} if joined else set()
    return {joined[i : i + n] for i in range(len(joined) - n + 1)}


def _span(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _validated(posts: Sequence[PostFacts]) -> list[PostFacts]:
    seen: set[str] = set()
    for post in posts:
        if not isinstance(post, PostFacts):
            raise MalformedError("detection takes PostFacts")
        if post.post_id in seen:
            raise MalformedError(f"post {post.post_id} appears twice")
        seen.add(post.post_id)
    return list(posts)


def _chronological(posts: Sequence[PostFacts]) -> list[PostFacts]:
    """(time, post_id) order: the tie-break that makes "earliest" independent of input order."""
    return sorted(posts, key=lambda p: (p.at, p.post_id))


@lru_cache(maxsize=16)
def _lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """Bands and rows datasketch chooses (a numeric optimisation of some 20 ms, done once)."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=_LSH_WEIGHTS)
    return int(lsh.b), int(lsh.r)


class _UnionFind:
    """Disjoint sets over 0..n-1; the root of a set is always its smallest member."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = (ra, rb) if ra < rb else (rb, ra)
            self.parent[hi] = lo


def _dense(times: Sequence[int], window_s: int, min_count: int) -> tuple[int, list[bool]]:
    """The most ``times`` (sorted) inside one window ``[t, t + window_s)``, and which of them lie
    in some window holding at least ``min_count``."""
    best = 0
    marks = [0] * (len(times) + 1)
    end = 0
    for start, t in enumerate(times):
        end = max(end, start)
        while end < len(times) and times[end] < t + window_s:
            end += 1
        best = max(best, end - start)
        if end - start >= min_count:
            marks[start] += 1
            marks[end] -= 1
    dense, running = [], 0
    for i in range(len(times)):
        running += marks[i]
        dense.append(running > 0)
    return best, dense


def _shingle_bytes(joined: str, n: int) -> set[bytes]:
    """``shingles`` of already joined words, UTF-8 encoded (sliced once for ASCII text)."""
    if len(joined) <= n:
        return {joined.encode()}
    if joined.isascii():
        raw = joined.encode()
        return {raw[i : i + n] for i in range(len(raw) - n + 1)}
    return {joined[i : i + n].encode() for i in range(len(joined) - n + 1)}


def _minhashes(joined: Iterable[str], settings: CoordinationSettings) -> list[MinHash]:
    # CRC-32 as the shingle hash: deterministic across processes (unlike hash()), several
    # times faster than datasketch's SHA-1 default, and mixed by the affine32 scheme's
    # MurmurHash3 finaliser before the permutations are applied.
    return MinHash.bulk(  # type: ignore[no-any-return]
        (_shingle_bytes(text, settings.shingle) for text in joined),
        num_perm=settings.num_perm,
        seed=settings.seed,
        hashfunc=zlib.crc32,
    )


def _join(
    parts: Sequence[list[int]], hashes: Mapping[int, MinHash], uf: _UnionFind, threshold: float
) -> None:
    """Union the parts (already joined components) of one bucket that hold a verified pair.

    Only pairs across parts not yet joined are checked (an edge inside a component changes no
    component), and a part stops being checked against another at its first verified pair, so
    a bucket of a thousand copies costs about a thousand comparisons, not half a million."""
    joined: list[list[int]] = []
    for part in parts:
        merged = list(part)
        rest = []
        for other in joined:
            if any(hashes[a].jaccard(hashes[b]) >= threshold for a in part for b in other):
                uf.union(part[0], other[0])
                merged.extend(other)
            else:
                rest.append(other)
        joined = [*rest, merged]


def _clusters(
    ordered: Sequence[PostFacts], settings: CoordinationSettings
) -> tuple[list[list[int]], dict[int, MinHash]]:
    """Components (as index lists into ``ordered``) of two or more verified near duplicates,
    and the MinHash of every post long enough to be compared (one object per distinct text)."""
    uf = _UnionFind(len(ordered))
    first: dict[str, int] = {}  # identical normalised texts: joined at once, hashed once
    same: dict[int, int] = {}
    for i, post in enumerate(ordered):
        tokens = words(post.text)
        if len(tokens) < settings.min_words:
            continue
        same[i] = first.setdefault(" ".join(tokens), i)
        uf.union(same[i], i)
    distinct = dict(zip(first.values(), _minhashes(first, settings), strict=True))
    lsh = MinHashLSH(
        threshold=settings.threshold,
        num_perm=settings.num_perm,
        params=_lsh_params(settings.threshold, settings.num_perm),
    )
    for i, sketch in distinct.items():
        lsh.insert(i, sketch, check_duplication=False)
    # Candidate pairs are the posts that share a band bucket. Reading the buckets once costs a
    # fraction of querying every post, and gives the same pairs.
    for table in lsh.hashtables:
        for band, count in table.itemcounts().items():
            if count < 2:
                continue
            parts: dict[int, list[int]] = defaultdict(list)
            for member in sorted(table.get(band)):
                parts[uf.find(member)].append(member)
            if len(parts) > 1:
                _join(list(parts.values()), distinct, uf, settings.threshold)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(ordered)):
        groups[uf.find(i)].append(i)
    sketches = {i: distinct[j] for i, j in same.items()}
    return [g for g in groups.values() if len(g) >= 2], sketches


def _cluster_id(members: Iterable[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(members)).encode()).hexdigest()
    return "nd-" + digest[:16]


def near_duplicate_clusters(
    posts: Sequence[PostFacts], settings: CoordinationSettings = CoordinationSettings()
) -> list[NearDuplicateCluster]:
    """Every cluster of near-duplicate posts, bursts or not, earliest first."""
    return [c for c, _ in _near_duplicates(_chronological(_validated(posts)), settings)]


def _near_duplicates(
    ordered: Sequence[PostFacts], settings: CoordinationSettings
) -> list[tuple[NearDuplicateCluster, dict[str, float]]]:
    """Clusters with, for each member but the earliest, its estimated resemblance to it."""
    groups, sketches = _clusters(ordered, settings)
    result = []
    for group in groups:
        members = [ordered[i] for i in group]
        best, dense = _dense([p.at for p in members], settings.window_s, settings.min_cluster)
        kept = sketches[group[0]]
        similarity = {ordered[i].post_id: float(kept.jaccard(sketches[i])) for i in group[1:]}
        cluster = NearDuplicateCluster(
            cluster_id=_cluster_id(p.post_id for p in members),
            members=tuple(p.post_id for p in members),
            burst=best,
            in_burst=frozenset(p.post_id for p, d in zip(members, dense, strict=True) if d),
        )
        result.append((cluster, similarity))
    return result


def rate_anomalies(
    posts: Sequence[PostFacts], settings: CoordinationSettings = CoordinationSettings()
) -> list[RateAnomaly]:
    """Every (district, service) bucket whose count is anomalous, by key and then time.

    A bucket is judged against the ``rate_history_s`` before it, clipped at the bucket of the
    first post seen (before that nothing is known, so nothing counts as zero); it is anomalous
    when it holds at least ``min_cluster`` posts and its robust z — (count - median) over
    max(1.4826·MAD, √median + 1) — reaches ``rate_z``."""
    ordered = _chronological(_validated(posts))
    if not ordered:
        return []
    size = settings.rate_bucket_s
    origin = ordered[0].at // size
    reach = settings.rate_history_s // size
    least = math.ceil(settings.rate_min_history_s / size)
    buckets: dict[tuple[str, str], dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for post in ordered:
        buckets[(post.district, post.service)][post.at // size].append(post.post_id)
    anomalies = []
    for (district, service), by_bucket in sorted(buckets.items()):
        for bucket, ids in sorted(by_bucket.items()):
            if len(ids) < settings.min_cluster:
                continue
            lo = max(origin, bucket - reach)
            if bucket - lo < max(least, 1):
                continue
            history = [len(by_bucket.get(k, ())) for k in range(lo, bucket)]
            median = float(statistics.median(history))
            spread = float(mad(history))
            scale = max(MAD_SCALE * spread, math.sqrt(median) + 1.0)
            z = (len(ids) - median) / scale
            if z >= settings.rate_z:
                anomalies.append(
                    RateAnomaly(
                        district=district,
                        service=service,
                        start=bucket * size,
                        bucket_s=size,
                        count=len(ids),
                        median=median,
                        mad=spread,
                        scale=scale,
                        z=z,
                        history_buckets=len(history),
                        posts=tuple(ids),
                    )
                )
    return anomalies


def _author_flags(
    ordered: Sequence[PostFacts], settings: CoordinationSettings
) -> dict[str, CoordinationFlag]:
    """Keep at most ``author_max`` posts per author in any window ``(t - author_window_s, t]``; flag
    the rest. Flagged posts do not count against later ones, so a steady poster is flagged only
    for the posts over the bound, like a token bucket."""
    by_author: dict[str, list[PostFacts]] = defaultdict(list)
    for post in ordered:
        if post.author is not None:
            by_author[post.author].append(post)
    flags: dict[str, CoordinationFlag] = {}
    window = settings.author_window_s
    for authored in by_author.values():
        times = [p.at for p in authored]
        kept: list[int] = []
        for post in authored:
            recent = kept[bisect.bisect_right(kept, post.at - window) :]
            if len(recent) < settings.author_max:
                kept.append(post.at)
                continue
            in_window = bisect.bisect_right(times, post.at) - bisect.bisect_right(
                times, post.at - window
            )
            flags[post.post_id] = CoordinationFlag(
                post.post_id,
                "author",
                f"its imported author posted {in_window} times within {_span(window)}; only "
                f"{settings.author_max} posts per author are kept in any such window",
                {
                    "author_posts_in_window": in_window,
                    "author_max": settings.author_max,
                    "window_s": window,
                    "kept_in_window": len(recent),
                },
            )
    return flags


def _rate_flags(
    ordered: Sequence[PostFacts],
    anomalies: Sequence[RateAnomaly],
    repeat_of: Mapping[str, str],
    settings: CoordinationSettings,
) -> dict[str, CoordinationFlag]:
    """In an anomalous bucket, flag only the posts that repeat an earlier one: a later member of
    a near-duplicate cluster (any size, any time), or a later post of an author already seen in
    the bucket. Every other post of the surge is organic until shown otherwise and stays in."""
    by_id = {p.post_id: p for p in ordered}
    flags: dict[str, CoordinationFlag] = {}
    for anomaly in anomalies:
        authors: set[str] = set()
        for post_id in anomaly.posts:
            post = by_id[post_id]
            why: dict[str, object] = {}
            if post_id in repeat_of:
                why = {"repeats": "near_duplicate", "cluster": repeat_of[post_id]}
            elif post.author is not None and post.author in authors:
                why = {"repeats": "author"}
            if post.author is not None:
                authors.add(post.author)
            if not why:
                continue
            flags[post_id] = CoordinationFlag(
                post_id,
                "rate",
                f"{anomaly.district}/{anomaly.service} received {anomaly.count} posts in "
                f"{_span(anomaly.bucket_s)} against a usual {anomaly.median:g} (robust z "
                f"{anomaly.z:.1f}), and this post repeats an earlier "
                + ("text" if why["repeats"] == "near_duplicate" else "author's post"),
                {**anomaly.evidence(), "rate_z": settings.rate_z, **why},
            )
    return flags


def detect(
    posts: Sequence[PostFacts], settings: CoordinationSettings = CoordinationSettings()
) -> list[CoordinationFlag]:
    """Flag the posts of coordinated campaigns, at most one flag per post, in input order.

    * ``near_duplicate``: a member of a near-duplicate cluster that lies in a burst window (one
      holding at least ``min_cluster`` members within ``window_s``) — except the cluster's
      earliest post, kept as the genuine voice: a campaign copying a real complaint must not
      silence it. Members outside every burst window (a repeat days later) are not flagged.
    * ``author``: an imported author's posts beyond ``author_max`` in any ``author_window_s``.
    * ``rate``: in an anomalous (district, service) bucket, a post that repeats an earlier one
      (see ``_rate_flags``); a surge of different complaints is reported by ``rate_anomalies``
      and never flagged.

    Priority when several apply: near_duplicate, then author, then rate."""
    given = _validated(posts)
    ordered = _chronological(given)
    flags: dict[str, CoordinationFlag] = {}
    repeat_of: dict[str, str] = {}
    for cluster, similarity in _near_duplicates(ordered, settings):
        for post_id in cluster.members[1:]:
            repeat_of[post_id] = cluster.cluster_id
        if not cluster.is_burst:
            continue
        for post_id in cluster.members[1:]:
            if post_id not in cluster.in_burst:
                continue
            flags[post_id] = CoordinationFlag(
                post_id,
                "near_duplicate",
                f"one of {len(cluster.members)} near-identical posts, {cluster.burst} of them "
                f"within {_span(settings.window_s)}; the earliest, {cluster.members[0]}, is "
                "kept as the original voice",
                {
                    "cluster": cluster.cluster_id,
                    "cluster_size": len(cluster.members),
                    "burst_size": cluster.burst,
                    "window_s": settings.window_s,
                    "threshold": settings.threshold,
                    "shingles": f"character {settings.shingle}-grams",
                    "kept": cluster.members[0],
                    "similarity_to_kept": round(similarity[post_id], 3),
                    "members_sample": list(cluster.members[:_SAMPLE]),
                },
            )
    for post_id, flag in _author_flags(ordered, settings).items():
        flags.setdefault(post_id, flag)
    anomalies = rate_anomalies(ordered, settings)
    for post_id, flag in _rate_flags(ordered, anomalies, repeat_of, settings).items():
        flags.setdefault(post_id, flag)
    return [flags[p.post_id] for p in given if p.post_id in flags]
