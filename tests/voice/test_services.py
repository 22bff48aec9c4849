"""The service category classifier: accuracy on labelled resident messages, specific decisions,
explanations, determinism, hostile input and obfuscation resistance.

Measured agreement of ``classify_service(normalise(text))`` (the model; the lexicon alone,
``classify_by_lexicon``, in brackets), never trained on any of these sets:

* tests/voice/service_examples.jsonl (352, 32 per category, written for the lexicon; the
  lexicon was tuned on its first half): overall 0.932 (0.898), first half 0.943 (0.955), second
  half 0.920 (0.841); per category waste 31/32, transport 29, roads 30, lighting 28, noise 30,
  air 31, parking 31, water 31, green_spaces 29, safety 28, other 30;
* training/data/services/devtest.jsonl (477, the development test that chose the model's route
  and settings): 0.914 (0.757);
* training/data/services/devtest_vocab.jsonl (274, residents' words the lexicon lacks, written
  before any model was trained): 0.807 (0.522);
* training/data/services/independent.jsonl (432, written by another author who saw none of the
  project's data, only the categories and their mapping rules; never used for a choice):
  0.861 (0.676), safety the weakest at 0.59.

The bars below sit under those measurements; bench/services.py reports them in full.
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

from ombud.errors import ConfigError, MalformedError
from ombud.voice.normalise import normalise
from ombud.voice.services import (
    CATEGORIES,
    DISPLAY_NAMES,
    MAX_CHARS,
    ServiceGuess,
    classify_by_lexicon,
    classify_service,
    classify_services,
)

HERE = Path(__file__).parent
EXAMPLES = HERE / "service_examples.jsonl"
CORPUS = HERE / "obfuscation_corpus.jsonl"
DATA = HERE.parents[1] / "training" / "data" / "services"
TRAINING_FILES = ("generated.jsonl", "handwritten.jsonl", "service_lists.jsonl")
DEV_FILES = ("devtest.jsonl", "devtest_vocab.jsonl")
INDEPENDENT = "independent.jsonl"
"""Held out from every choice: measured, never tuned on (training/data/services/README.md)."""


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
    assert overall >= 0.88
    assert second >= 0.85  # the half the lexicon was not tuned on
    assert min(per_category.values()) >= 0.80


def test_agreement_on_development_test() -> None:
    """The development test (never trained on) and its harder part in residents' own words."""
    general, _ = accuracy(load(DATA / "devtest.jsonl"))
    vocabulary, per_category = accuracy(load(DATA / "devtest_vocab.jsonl"))
    print(f"\ndevelopment test: {general:.3f}, residents' words {vocabulary:.3f}")
    assert general >= 0.88
    assert vocabulary >= 0.76
    assert min(per_category.values()) >= 0.50


def test_agreement_on_an_independent_authors_requests() -> None:
    """The development test shares its author with the training data; these 432 requests
    were written by another, from the categories and their mapping rules alone."""
    overall, per_category = accuracy(load(DATA / INDEPENDENT))
    print(f"\nindependent author: {overall:.3f}")
    assert overall >= 0.84
    assert min(per_category.values()) >= 0.55


def test_model_beats_the_lexicon_on_residents_words() -> None:
    examples = load(DATA / "devtest_vocab.jsonl")
    model = sum(classify_service(normalise(e["text"])).category == e["category"] for e in examples)
    lexicon = sum(
        classify_by_lexicon(normalise(e["text"])).category == e["category"] for e in examples
    )
    assert model >= lexicon + 0.15 * len(examples)


# --- the development data ----------------------------------------------------------------------


@pytest.mark.parametrize("name", (*TRAINING_FILES, *DEV_FILES, INDEPENDENT))
def test_development_data_shape(name: str) -> None:
    rows = load(DATA / name)
    assert rows
    for row in rows:
        assert set(row) == {"text", "category"}
        assert row["category"] in CATEGORIES
        assert isinstance(row["text"], str) and row["text"].strip()
    assert len({r["text"] for r in rows}) == len(rows)


def test_training_data_covers_every_category() -> None:
    counts: Counter[str] = Counter()
    for name in TRAINING_FILES:
        counts.update(r["category"] for r in load(DATA / name))
    assert set(counts) == set(CATEGORIES)
    assert min(counts.values()) >= 150


def test_held_out_sets_share_no_text_with_training() -> None:
    def texts(names: tuple[str, ...]) -> set[str]:
        return {r["text"].casefold() for name in names for r in load(DATA / name)}

    training = texts(TRAINING_FILES)
    assert not training & texts(DEV_FILES)
    assert not (training | texts(DEV_FILES)) & texts((INDEPENDENT,))
    assert not training & {r["text"].casefold() for r in load(EXAMPLES)}


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
        # what residents write to 311 / FixMyStreet, in words the lexicon lacks or shares
        ("the bins weren't collected", "waste"),
        ("missed trash pickup", "waste"),
        ("dead raccoon in road", "waste"),
        ("cars double-park every night", "parking"),
        ("blocked driveway", "parking"),
        ("Abandoned vehicle, no plates, outside 12 Oak St for 3 weeks", "parking"),
        ("street light out corner of 5th and Main", "lighting"),
        ("Sidewalk cracked and lifting in front of 221 Elm", "roads"),
        ("Stop sign knocked down at Pine and 7th", "roads"),
        ("Hydrant leaking at 4th and Main", "water"),
        ("Tree branch hanging over the sidewalk", "green_spaces"),
        ("Graffiti on the garage door in the alley", "safety"),
        ("Neighbors dog barking all night", "noise"),
        ("Neighbour burning rubbish in the garden, smoke everywhere", "air"),
        ("Bus shelter glass smashed", "transport"),
        ("How do I pay my property tax?", "other"),
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
    assert classify_by_lexicon("The traffic lights are broken").matched == ("traffic lights",)


def test_no_words_is_other_with_score_zero_and_chatter_is_other() -> None:
    assert classify_service("") == ServiceGuess("other", 0.0, ())
    assert classify_service(" ,.!? \n") == ServiceGuess("other", 0.0, ())
    for chatter in ("Happy new year", "hello", "Thank you all!", "lol"):
        assert classify_service(chatter).category == "other"


def test_the_lexicon_alone_calls_ties_and_no_match_other() -> None:
    assert classify_by_lexicon("Happy new year") == ServiceGuess("other", 0.0, ())
    # one weak road cue against one weak lighting cue
    assert classify_by_lexicon("road dark") == ServiceGuess("other", 0.0, ())
    assert classify_by_lexicon("pothole").category == "roads"


def test_matched_words_explain_a_guess_the_lexicon_missed() -> None:
    """Where no lexicon term agrees, ``matched`` is the words that weighed most for it."""
    guess = classify_service("dead raccoon in road")
    assert classify_by_lexicon("dead raccoon in road").category != "waste"
    assert guess.category == "waste"
    assert 1 <= len(guess.matched) <= 3
    assert set(guess.matched) <= {"dead", "raccoon", "in", "road"}
    assert "dead" in guess.matched or "raccoon" in guess.matched


@pytest.mark.parametrize("path", [EXAMPLES, DATA / "devtest.jsonl", DATA / "devtest_vocab.jsonl"])
def test_matched_terms_explain_the_label(path: Path) -> None:
    """Every guess names the words that decided it; only the low-confidence fallback to
    ``other`` has score 0 and names none."""
    for example in load(path):
        text = normalise(example["text"])
        guess = classify_service(text)
        assert guess.category in CATEGORIES
        assert 0.0 <= guess.score <= 1.0
        if guess.score == 0.0:
            assert guess.category == "other" and guess.matched == ()
        else:
            assert guess.matched
            for term in guess.matched:
                assert term in text.casefold()
        lexicon = classify_by_lexicon(text)
        if lexicon.category == guess.category != "other":
            assert guess.matched == lexicon.matched  # the lexicon's terms explain its label


def test_a_confident_other_names_its_words() -> None:
    guess = classify_service("How do I pay my council tax?")
    assert guess.category == "other"
    assert guess.score > 0.5
    assert "tax" in guess.matched


def test_score_grows_with_agreeing_evidence() -> None:
    one = classify_service("the road")
    many = classify_service("pothole on the road, the pavement and kerb are broken too")
    assert one.category == many.category == "roads"
    assert one.score < many.score <= 1.0
    one = classify_by_lexicon("road")
    many = classify_by_lexicon("pothole on the road, the pavement and kerb are broken too")
    assert one.score < many.score < 1.0


def test_case_is_ignored_and_result_is_deterministic() -> None:
    assert classify_service("BINS NOT COLLECTED") == classify_service("bins not collected")
    assert classify_service("Bins") == classify_service("Bins")
    texts = [normalise(e["text"]) for e in load(DATA / "devtest_vocab.jsonl")]
    first = [classify_service(t) for t in texts]
    again = [classify_service("".join(list(t))) for t in reversed(texts)]
    assert first == list(reversed(again))


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


def test_a_batch_gives_each_text_its_own_guess() -> None:
    """``classify_services`` is ``classify_service`` on each text, whatever the batch holds."""
    texts = [normalise(e["text"]) for e in load(DATA / "devtest.jsonl")[:120]]
    texts += ["", "hello"]
    one_by_one = [classify_service(t) for t in texts]
    assert classify_services(texts) == one_by_one
    assert classify_services(list(reversed(texts))) == list(reversed(one_by_one))
    assert classify_services(texts[5:9] + texts[:3]) == one_by_one[5:9] + one_by_one[:3]
    assert classify_services([]) == []
    with pytest.raises(MalformedError):
        classify_services(["pothole", None])  # type: ignore[list-item]


@pytest.mark.parametrize("value", [None, b"pothole", 42, ["pothole"]])
def test_refuses_non_text(value: object) -> None:
    with pytest.raises(MalformedError):
        classify_service(value)  # type: ignore[arg-type]
    with pytest.raises(MalformedError):
        classify_by_lexicon(value)  # type: ignore[arg-type]


def test_an_incomplete_or_broken_model_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ombud.voice import services

    shipped = Path(str(services.resources.files("ombud.voice") / "models"))
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setattr(services.resources, "files", lambda _package: tmp_path)
    with pytest.raises(ConfigError, match="missing"):
        services._model.__wrapped__()
    for name in ("services.json", "tokenizer.json"):
        (models / name).write_bytes((shipped / name).read_bytes())
    (models / "services.npz").write_bytes(b"not a numpy archive")
    with pytest.raises(ConfigError, match="cannot be read"):
        services._model.__wrapped__()
    (models / "services.npz").write_bytes((shipped / "services.npz").read_bytes())
    (models / "tokenizer.json").write_bytes((shipped / "tokenizer.json").read_bytes()[:5000])
    with pytest.raises(ConfigError, match=r"tokenizer .* cannot be read"):
        services._model.__wrapped__()


@pytest.mark.parametrize("text", ["x" * 101, "ß" * 3000, "🙂🙂🙂"])
def test_words_the_vocabulary_does_not_know_say_nothing(text: str) -> None:
    """Word pieces the vocabulary lacks ("[UNK]") are left out, so they cannot pull a message
    into a service; with nothing else to go on, it is "other"."""
    guess = classify_service(text)
    assert (guess.category, guess.matched) == ("other", ())


def test_an_explanation_names_each_word_once_and_shortly() -> None:
    from ombud.voice import services

    guess = classify_service("graffiti graffiti graffiti everywhere on the wall " + "z" * 300)
    assert len(set(guess.matched)) == len(guess.matched)
    assert all(len(word) <= 40 for word in guess.matched)
    before = len(services._PIECES)
    classify_service("w" * 60 + " pothole")  # a long word is not remembered
    assert "w" * 60 not in services._PIECES and len(services._PIECES) <= before + 1


def test_a_huge_message_is_judged_on_its_beginning() -> None:
    head = "Huge pothole on Mill Lane, please fix it. "
    huge = head * 200_000  # 8.6 million characters
    guess = classify_service(huge)
    assert guess == classify_service(huge[:MAX_CHARS])
    assert guess.category == "roads"
    assert classify_by_lexicon(huge) == classify_by_lexicon(huge[:MAX_CHARS])


def test_control_characters_and_odd_text_get_a_valid_guess() -> None:
    for text in ["\x00\x01\x02 pothole \x7f", "\ud800 bins", "\u202e" * 50, "a" * 5000, "🗑️" * 300]:
        guess = classify_service(text)
        assert guess.category in CATEGORIES
        assert 0.0 <= guess.score <= 1.0
        assert classify_service(text) == guess


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
    # what normalising undoes: the lexicon alone does not see the word in the raw text
    assert classify_by_lexicon(normalise(obfuscated)).category == category
    assert classify_by_lexicon(obfuscated).category != category
