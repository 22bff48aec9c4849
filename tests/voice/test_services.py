"""The service category classifier: accuracy on a labelled set of resident messages
(tests/voice/service_examples.jsonl), specific decisions, and obfuscation resistance.

Measured accuracy (classify_service(normalise(text)), 352 examples, 32 per category, shuffled
once with a fixed seed before any classifier was run on them):

* first half (176, used to tune the lexicon): 0.881 before tuning, 0.955 after;
* second half (176, held out, measured once after tuning): 0.841;
* overall: 0.898. Per category overall: waste 31/32, transport 27/32, roads 31/32, lighting
  26/32, noise 26/32, air 27/32, parking 31/32, water 31/32, green_spaces 31/32, safety 25/32,
  other 30/32.

The thresholds below sit under those measurements; most misses are messages whose cue words
tie between two categories (which the classifier reports as "other") or that name the place
("bus stop", "car park") more strongly than the problem.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ombud.errors import MalformedError
from ombud.voice.normalise import normalise
from ombud.voice.services import CATEGORIES, DISPLAY_NAMES, ServiceGuess, classify_service

HERE = Path(__file__).parent
EXAMPLES = HERE / "service_examples.jsonl"
CORPUS = HERE / "obfuscation_corpus.jsonl"


def bold(word: str) -> str:
    """A lower-case ASCII word in MATHEMATICAL BOLD SMALL letters (U+1D41A …)."""
    return "".join(chr(0x1D41A + ord(ch) - ord("a")) for ch in word)


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def accuracy(examples: list[dict[str, Any]]) -> tuple[float, dict[str, float]]:
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for example in examples:
        total[example["category"]] += 1
        guess = classify_service(normalise(example["text"]))
        right[example["category"]] += guess.category == example["category"]
    overall = sum(right.values()) / len(examples)
    return overall, {c: right[c] / total[c] for c in total}


# --- the labelled set --------------------------------------------------------------------------


def test_labelled_set_shape() -> None:
    examples = load(EXAMPLES)
    assert len(examples) >= 330
    counts = Counter(e["category"] for e in examples)
    assert set(counts) == set(CATEGORIES)
    assert min(counts.values()) >= 20
    assert len({e["text"] for e in examples}) == len(examples)
    for example in examples:
        assert set(example) == {"text", "category"}


def test_accuracy_on_labelled_set() -> None:
    examples = load(EXAMPLES)
    half = len(examples) // 2
    overall, per_category = accuracy(examples)
    first, _ = accuracy(examples[:half])
    second, _ = accuracy(examples[half:])
    print(f"\nservice accuracy: overall {overall:.3f}, first half {first:.3f}, second {second:.3f}")
    for category in CATEGORIES:
        print(f"  {category:<13} {per_category[category]:.3f}")
    assert overall >= 0.85
    assert second >= 0.80  # the half the lexicon was not tuned on
    assert min(per_category.values()) >= 0.70


# --- specific decisions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("The bins were not collected again", "waste"),
        ("Fly-tipping behind the garages", "waste"),
        ("The 42 bus never came", "transport"),
        ("Trams delayed, timetable is fiction", "transport"),
        ("Huge pothole on Mill Lane", "roads"),
        ("Potholes everywhere", "roads"),
        ("The traffic lights at the junction are stuck on red", "roads"),
        ("Street light out on Elm Road", "lighting"),
        ("The streetlights flicker all night", "lighting"),
        ("The lamp post is leaning", "lighting"),
        ("Noise from traffic all night", "noise"),
        ("Noise from the roadworks", "noise"),
        ("Loud music from next door", "noise"),
        ("Air quality near the school is awful, smog every day", "air"),
        ("Exhaust fumes on the ring road", "air"),
        ("Cars parked on the pavement", "parking"),
        ("People parking in the cycle lane", "parking"),
        ("The car park is full every day", "parking"),
        ("Need a resident parking permit", "parking"),
        ("Burst pipe flooding the street", "water"),
        ("The drain is blocked and the sewer smells", "water"),
        ("The park is lovely", "green_spaces"),
        ("Can we have more trees and a new playground", "green_spaces"),
        ("Dangerous crossing outside the school", "safety"),
        ("My bike was stolen, no police anywhere", "safety"),
        ("Graffiti and vandalism at the station subway", "safety"),
        ("What are the library opening hours?", "other"),
        ("Council tax went up again", "other"),
        ("Thank you all!", "other"),
    ],
)
def test_specific_cases(text: str, category: str) -> None:
    guess = classify_service(text)
    assert guess.category == category, guess


def test_longest_term_wins_and_counts_once() -> None:
    guess = classify_service("The traffic lights are broken")
    assert guess.category == "roads"
    assert guess.matched == ("traffic lights",)
    assert classify_service("The car park").matched == ("car park",)
    assert classify_service("The street lights are out").category == "lighting"


def test_no_match_and_ties_are_other_with_score_zero() -> None:
    assert classify_service("Happy new year") == ServiceGuess("other", 0.0, ())
    assert classify_service("") == ServiceGuess("other", 0.0, ())
    # one weak road cue against one weak lighting cue
    assert classify_service("road dark") == ServiceGuess("other", 0.0, ())


def test_matched_terms_explain_the_label() -> None:
    for example in load(EXAMPLES):
        text = normalise(example["text"])
        guess = classify_service(text)
        assert guess.category in CATEGORIES
        assert 0.0 <= guess.score <= 1.0
        if guess.category == "other":
            assert guess.score == 0.0 and guess.matched == ()
        else:
            assert guess.score > 0.0 and guess.matched
            for term in guess.matched:
                assert term in text.casefold()


def test_score_grows_with_agreeing_evidence() -> None:
    one = classify_service("road")
    many = classify_service("pothole on the road, the pavement and kerb are broken too")
    assert one.category == many.category == "roads"
    assert one.score < many.score < 1.0


def test_case_is_ignored_and_result_is_deterministic() -> None:
    assert classify_service("BINS NOT COLLECTED") == classify_service("bins not collected")
    assert classify_service("Bins") == classify_service("Bins")


def test_categories_and_display_names() -> None:
    assert CATEGORIES == (
        "waste",
        "transport",
        "roads",
        "lighting",
        "noise",
        "air",
        "parking",
        "water",
        "green_spaces",
        "safety",
        "other",
    )
    assert DISPLAY_NAMES["green_spaces"] == "green spaces"
    assert DISPLAY_NAMES["waste"] == "waste"


def test_guess_is_frozen() -> None:
    guess = classify_service("pothole")
    with pytest.raises(dataclasses.FrozenInstanceError):
        guess.category = "other"  # type: ignore[misc]


def test_refuses_non_text() -> None:
    with pytest.raises(MalformedError):
        classify_service(None)  # type: ignore[arg-type]


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_any_text_gets_a_valid_guess(text: str) -> None:
    guess = classify_service(normalise(text))
    assert guess.category in CATEGORIES
    assert 0.0 <= guess.score <= 1.0


# --- obfuscation -------------------------------------------------------------------------------


@pytest.mark.parametrize("pair", load(CORPUS), ids=lambda pair: pair["technique"])
def test_obfuscated_text_classifies_like_clean_text(pair: dict[str, Any]) -> None:
    clean = classify_service(normalise(pair["clean"]))
    obfuscated = classify_service(normalise(pair["obfuscated"]))
    assert obfuscated == clean


@pytest.mark.parametrize(
    ("obfuscated", "category"),
    [
        ("Huge p\u043eth\u043ele here", "roads"),  # CYRILLIC SMALL LETTER O
        ("\uff42\uff49\uff4e\uff53 left out again", "waste"),  # fullwidth
        ("str\u200be\u200bet l\u200bight out", "lighting"),  # zero-width spaces
        ("l0ud mus1c every night", "noise"),  # leetspeak
        ("p.o.l.l.u.t.i.o.n is awful", "air"),  # dotted letters
        (f"{bold('cars')} {bold('parked')}", "parking"),  # mathematical bold
        ("\u202ekael retaw\u202c on Station Road", "water"),  # right-to-left override
    ],
)
def test_obfuscated_service_words(obfuscated: str, category: str) -> None:
    assert classify_service(normalise(obfuscated)).category == category
    assert classify_service(obfuscated).category != category
