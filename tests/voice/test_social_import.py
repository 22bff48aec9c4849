"""Social imports: authors pseudonymised and bounded, repeats and known records dropped,
reported apart from residents' tokened posts (SQLite and PostgreSQL)."""

from __future__ import annotations

from ombud.voice.social_import import import_posts

from .conftest import ORGANIC, Voice

KEY = b"k" * 32


def _record(n: int, author: str, text: str, **extra: str) -> tuple[int, dict[str, str]]:
    return n, {
        "id": f"tw-{n}",
        "created_at": f"2026-12-02T{8 + n % 10:02d}:{n % 60:02d}:00Z",
        "author": author,
        "text": text,
        **extra,
    }


def test_imports_pseudonymise_authors_and_are_reported_apart(voice: Voice) -> None:
    records = [_record(i, f"@person{i}", t, district="riverside") for i, t in enumerate(ORGANIC)]
    records.append(
        (
            90,
            {
                "id": "bad",
                "created_at": "yesterday",
                "author": "x",
                "text": "hi",
                "district": "riverside",
            },
        )
    )
    records.append(
        (
            91,
            {
                "id": "geo",
                "created_at": "2026-12-02T08:00:00Z",
                "author": "x",
                "text": "hello there",
                "geo": "1,2",
            },
        )
    )
    report = import_posts(voice.posts, records, KEY)
    assert report.accepted == len(ORGANIC) and report.flagged == 0
    assert [n for n, _ in report.refused] == [90, 91]
    assert "RFC 3339" in report.refused[0][1] and "unknown field" in report.refused[1][1]
    stored = voice.posts.db.read("SELECT * FROM posts")
    assert not any("@person" in str(value) for row in stored for value in row)  # handle dropped
    summary = voice.reports.sentiment(district="riverside").to_json()
    assert summary["imported"]["posts"] == len(ORGANIC) and summary["tokened"]["posts"] == 0
    assert all(p.period is None and p.channel == "import" for p in voice.reports.list())
    again = import_posts(voice.posts, records[:3], KEY)  # the same records: duplicates
    assert again.accepted == 0 and again.duplicates == 3


def test_one_author_is_bounded_and_repeats_are_duplicates(voice: Voice) -> None:
    texts = [
        "The night bus never turns up on time",
        "Parking permits cost far too much here",
        "Who decided to close the swimming pool",
        "The market square smells of bins all week",
        "Street cleaning skipped our road again",
    ]
    records = [_record(i, "@loud", t, district="north") for i, t in enumerate(texts)]
    records.append(_record(20, "@loud", texts[0], district="north"))  # the same text again
    report = import_posts(voice.posts, records, KEY)
    assert report.accepted == 5 and report.duplicates == 1 and report.flagged == 2
    flagged = voice.reports.list(flagged=True)
    assert {p.flag for p in flagged} == {"author"}
    summary = voice.reports.sentiment(district="north").to_json()
    assert summary["imported"]["posts"] == 3 and summary["flaggedExcluded"] == 2


def test_only_english_posts_are_imported(voice: Voice) -> None:
    """The models read English: a record in another language is refused with its line number
    and the reason (the value shown cut short), one with ``lang`` "en" or null is not."""
    records = [
        _record(1, "@a", "The bins were not collected again", district="north", lang="en"),
        _record(2, "@b", "Les poubelles ne sont pas ramassées", district="north", lang="fr"),
        _record(3, "@c", "Die Mülltonnen wurden nicht geleert", district="north", lang="de"),
        _record(4, "@d", "The bus shelter is broken", district="north", lang="x" * 5000),
    ]
    unsaid = {**records[0][1], "id": "tw-5", "author": "@e", "lang": None}
    records.append((5, {**unsaid, "text": "A streetlight is out on Mill Lane"}))  # type: ignore[dict-item]
    report = import_posts(voice.posts, records, KEY)
    assert report.accepted == 2
    assert [n for n, _ in report.refused] == [2, 3, 4]
    assert all("only English posts" in why for _, why in report.refused)
    assert "'fr'" in report.refused[0][1] and len(report.refused[2][1]) < 100


def test_a_bad_record_is_refused_alone_with_its_line(voice: Voice) -> None:
    """A lone surrogate, a post dated in year 9999 or before 1970, or a district the city does
    not list: each record is refused with its reason, and the good ones are imported (any of
    them once failed the whole import, with a traceback)."""
    voice.posts.districts = frozenset({"north"})
    records = [
        _record(1, "@a", "The bins were not collected again", district="north"),
        _record(2, "@b\ud800", "Potholes everywhere on the ring road", district="north"),
        (3, {**_record(3, "@c", "Street lights out", district="north")[1],
             "created_at": "9999-12-31T23:00:00Z"}),
        (4, {**_record(4, "@d", "Bus late again", district="north")[1],
             "created_at": "1969-12-31T23:00:00Z"}),
        _record(5, "@e", "Noisy bar every night", district="atlantis"),
        _record(6, "@f", "Parking permits cost too much", district="north"),
    ]  # fmt: skip
    report = import_posts(voice.posts, records, KEY)
    assert report.accepted == 2
    reasons = dict(report.refused)
    assert sorted(reasons) == [2, 3, 4, 5]
    assert "lone surrogate" in reasons[2]
    assert "in the future" in reasons[3] and "before 1970" in reasons[4]
    assert "not one of the city's districts" in reasons[5]
