"""Which municipal service a resident's message is about: a small linear model over word pieces,
words and an auditable keyword lexicon, with the words that decided each guess.

Threat model: the category steers which department's satisfaction a post counts toward, so a
label must be explainable to the resident, the department and an auditor; every guess carries
the terms that produced it, and the same text always gets the same guess. Obfuscation is undone
before this runs (``voice.normalise``); the model file is part of the package, read from disk
(never a pickle) with no network, and its provenance and figures are in models/services.json.

Why a model: the lexicon alone was 89.8% right on the messages written for it
(tests/voice/service_examples.jsonl) but agreed with the city's own category on only about
half of real resident requests (311 / FixMyStreet style), mostly by answering ``other`` to
"the bins weren't collected" or "cars double-park every night". The model is a multinomial
logistic regression (trained by training/services.py on training/data/services/, whose README
says what the data is and how each category was decided) over three blocks of features:

* the weighted mean of per-word-piece vectors of all-MiniLM-L6-v2 (the sentiment model's
  tokenizer and vocabulary; each token's vector is the encoder's sentence embedding of that
  token alone), which carries the meaning of words the lexicon never listed ("raccoon",
  "driveway"). Pooling and regression are both linear, so the vectors ship folded into one
  table of per-piece logits;
* hashed word unigrams and bigrams;
* the lexicon's total per category (below), so its words still count and break near-ties.

Under a probability threshold (chosen on the development test) the guess is ``other``.
``matched`` is the lexicon terms that agree with the guess or, where none does, the words that
pushed hardest toward it. Agreement, per category, of the model and of the lexicon alone on the
held-out development test and on service_examples.jsonl is measured by bench/services.py
(bench/results/services.json) and written in models/services.json.

The lexicon: each category has English terms and phrases (British and American spellings,
common inflections and a few frequent misspellings), each with a weight: 3 for a term that on
its own names the service (``pothole``, ``fly-tipping``, ``streetlight``), 2 for a strong cue
(``bus``, ``leak``, ``music``), 1 for a weak or shared one (``road``, ``dark``, ``smell``).
Matching is case-insensitive on whole words; where terms overlap, the longest match wins and a
word counts once, so "traffic lights" is one roads term and never also a lighting "lights",
"car park" is parking and never green spaces' "park". On its own (``classify_by_lexicon``, the
method before the model) the category with the highest total wins; a tie, or no match, is
``other`` with score 0, and the score is ``top / (total + 1)``. Decisions on ambiguous words
(each is a lexicon entry below):

* traffic lights / signals, pedestrian crossings, road markings, gritting → roads (highways
  maintain them); street lights, lamp posts → lighting.
* noise wins over what makes it: "noise", "loud", "noisy" weigh 3, more than most sources, and
  "noise from …" is one noise term that takes in the word after it, so "noise from traffic"
  and "noise from the roadworks" are noise, not roads.
* graffiti, vandalism, anti-social behaviour, speeding and a "dangerous crossing" → safety.
* smells are weak (air 1), so "the bins smell" is waste and "sewage smell" is water.
* dog fouling, street cleaning, overflowing litter bins → waste; fallen trees, parks,
  playgrounds → green spaces; abandoned cars, blue badges and permits → parking; flooding,
  drains and sewers → water.
* the training data adds (each decision in training/data/services/README.md): pavements,
  kerbs, street signs, snow and ice → roads; dead animals, rats among rubbish → waste; pests
  inside a home, housing, heating, taxes, libraries, greetings and chatter → other; a damaged
  bus shelter → transport, a damaged bench or swing → green spaces (the asset's service).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import numpy as np
from tokenizers import Tokenizer

from ombud.errors import ConfigError, MalformedError

__all__ = [
    "CATEGORIES",
    "DISPLAY_NAMES",
    "MAX_CHARS",
    "ServiceGuess",
    "classify_by_lexicon",
    "classify_service",
    "classify_services",
]

CATEGORIES: tuple[str, ...] = (
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

DISPLAY_NAMES: Mapping[str, str] = MappingProxyType({c: c.replace("_", " ") for c in CATEGORIES})
"""Identifier → the name shown to people ("green_spaces" → "green spaces")."""

MAX_CHARS = 2000
"""A message is judged on its first 2,000 characters (a longer one costs no more time)."""

_INDEX = {c: i for i, c in enumerate(CATEGORIES)}
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)?")


@dataclass(frozen=True)
class ServiceGuess:
    """A category, a score in [0, 1], and the matched terms (in text order) that explain it."""

    category: str
    score: float
    matched: tuple[str, ...]


# Term syntax: a regular expression over lower-case text, matched on whole words; "~" after a
# word allows a regular plural ("bin~" matches "bin" and "bins", "bus~" "bus" and "buses").
_LEXICON: dict[str, tuple[tuple[str, int], ...]] = {
    "waste": (
        (r"bin~", 3),
        (r"wheelie bin~", 3),
        (r"bin (?:men|man|lorr(?:y|ies)|day|collection~)", 3),
        (r"rubbish", 3),
        (r"rubish", 3),
        (r"litter(?:ed|ing)?", 3),
        (r"litter bin~", 3),
        (r"recycl(?:e|es|ed|ing)", 3),
        (r"fly[- ]?tip(?:ping|ped|pers?)?", 3),
        (r"garbage", 3),
        (r"trash", 3),
        (r"waste", 2),
        (r"refuse", 2),
        (r"collect(?:ed|ion~|ing|s)?", 2),
        (r"(?:not|never|wasn't|weren't) (?:been )?(?:emptied|picked up|collected)", 3),
        (r"empt(?:y|ied|ying)", 1),
        (r"dump(?:ed|ing)", 2),
        (r"mattress(?:es)?", 2),
        (r"black bag~", 3),
        (r"bin bag~", 3),
        (r"food waste", 3),
        (r"skip~", 1),
        (r"overflowing", 1),
        (r"dog (?:poo|poop|mess|fouling|waste)", 3),
        (r"fouling", 2),
        (r"street clean(?:ing|ers?)", 3),
        (r"sweep(?:er~|ing)?", 2),
        (r"(?:tip|dump) run", 2),
        (r"household waste", 3),
        (r"cigarette butts?|fag ends?", 2),
        (r"clean(?:ing|ed)?(?: up)?|clean-?up", 1),
        (r"bulky (?:waste|item~|collection~)", 3),
    ),
    "transport": (
        (r"bus~", 2),
        (r"busses", 2),
        (r"bus stop~", 3),
        (r"bus (?:route~|service~|driver~|shelter~|lane~|station~)", 3),
        (r"tram~", 3),
        (r"train~", 3),
        (r"rail(?:way)?s?", 2),
        (r"metro", 3),
        (r"subway", 2),
        (r"underground", 2),
        (r"tube", 2),
        (r"timetable~", 3),
        (r"schedule~", 1),
        (r"route~", 1),
        (r"station~", 2),
        (r"platform~", 2),
        (r"fare~", 2),
        (r"ticket machine~", 2),
        (r"(?:bus|train|travel) pass(?:es)?", 3),
        (r"public transport", 3),
        (r"commut(?:e|es|er~|ing)", 2),
        (r"driver~", 1),
        (r"delay(?:ed|s)?", 1),
        (r"cancel(?:l?ed|lations?)", 1),
        (r"(?:turn|show)(?:s|ed)? up", 1),
        (r"ferry|ferries", 2),
        (r"park and ride", 3),
        (r"bike share|cycle hire|e-?scooter~", 2),
        (r"number \d+", 1),
        (r"no\.? ?\d+ bus", 3),
        (r"light rail", 3),
    ),
    "roads": (
        (r"pot ?hole~", 3),
        (r"road~", 1),
        (r"street~", 1),
        (r"lane~", 1),
        (r"pavement~", 2),
        (r"sidewalk~", 2),
        (r"footpath~", 2),
        (r"kerb~|curb~", 3),
        (r"tarmac", 2),
        (r"asphalt", 2),
        (r"resurfac(?:e|ed|ing)", 3),
        (r"road ?works?", 3),
        (r"roadworks", 3),
        (r"traffic", 1),
        (r"traffic (?:light~|signal~)", 3),
        (r"junction~", 2),
        (r"roundabout~", 2),
        (r"speed (?:bump~|hump~|table~)", 3),
        (r"cycle (?:lane~|path~|track~)", 3),
        (r"bike (?:lane~|path~)", 3),
        (r"crossing~", 1),
        (r"zebra crossing~", 2),
        (r"road markings?|white lines?|yellow lines? (?:faded|worn)", 2),
        (r"grit(?:ting|ted|ters?)?", 3),
        (r"icy", 1),
        (r"congest(?:ed|ion)", 2),
        (r"diversion~", 2),
        (r"closure~", 1),
        (r"closed road~|road closed", 2),
        (r"cracked", 1),
        (r"uneven", 2),
        (r"manhole cover~", 2),
        (r"highway~", 2),
        (r"surface", 1),
    ),
    "lighting": (
        (r"street ?light~", 3),
        (r"street ?lamp~", 3),
        (r"street lighting", 3),
        (r"lamp ?post~", 3),
        (r"lamp~", 2),
        (r"light~", 1),
        (r"lighting", 2),
        (r"lit", 1),
        (r"unlit", 3),
        (r"dark", 1),
        (r"pitch (?:black|dark)", 2),
        (r"bulb~", 2),
        (r"flicker(?:s|ed|ing)?", 2),
        (r"(?<!traffic )lights? (?:is |are )?(?:out|off|broken|not working)", 3),
        (r"floodlight~", 2),
        (r"(?:christmas|festive) lights", 3),
    ),
    "noise": (
        (r"noise~", 3),
        (r"(?:noise|racket|din) (?:from|of) (?:the |a |an |our |my )?[\w'-]+", 3),
        (r"noisy", 3),
        (r"loud(?:ly|er|est)?", 3),
        (r"music", 2),
        (r"part(?:y|ies)", 1),
        (r"bark(?:s|ed|ing)?", 2),
        (r"drill(?:s|ed|ing)?", 1),
        (r"(?:\d|\d\d)(?::\d\d)? ?am", 1),
        (r"all night", 1),
        (r"at night", 1),
        (r"can(?:no|')t sleep|kept (?:me|us) (?:up|awake)", 2),
        (r"sleep", 1),
        (r"alarm~", 2),
        (r"decibel~", 3),
        (r"racket|din", 2),
        (r"shout(?:s|ed|ing)?|scream(?:s|ed|ing)?", 1),
        (r"leaf blower~", 2),
        (r"sirens?", 1),
        (r"quiet", 1),
        (r"speaker~", 2),
        (r"bass", 2),
        (r"nightclub~", 1),
        (r"firework~", 2),
        (r"volume", 2),
        (r"full volume", 3),
    ),
    "air": (
        (r"air quality", 3),
        (r"air", 1),
        (r"pollut(?:ion|ed|ing)", 3),
        (r"smog", 3),
        (r"fume~", 3),
        (r"exhaust~", 2),
        (r"smoke|smoky|smoking chimney~", 2),
        (r"smell~|smelly|stink(?:s|ing)?|stench|odou?r~", 1),
        (r"dust(?:y)?", 2),
        (r"bonfire~", 2),
        (r"wood ?burner~", 3),
        (r"idling", 3),
        (r"breath(?:e|ing)", 2),
        (r"asthma", 3),
        (r"cough(?:s|ing)?", 2),
        (r"pm ?2\.?5|pm ?10|no2|nitrogen dioxide|particulates?", 3),
        (r"emission~", 3),
        (r"clean air zone|low emission zone|ulez", 3),
        (r"incinerator~", 2),
        (r"burn(?:s|ing|t)? (?:rubbish|waste|plastic|tyres|garden waste)", 3),
        (r"haze|hazy", 2),
    ),
    "parking": (
        (r"parking", 3),
        (r"parked", 3),
        (r"car park~", 3),
        (r"(?:to|can't|cannot|couldn't|nowhere to|place to) park", 3),
        (
            r"park(?:s|ed|ing)? (?:on|in|across|over) (?:the |a |our |my )?"
            r"(?:pavement|kerb|curb|sidewalk|verge|grass|cycle lane|bike lane|bus lane|bus stop"
            r"|driveway|double yellows?)",
            3,
        ),
        (r"parking (?:meter~|permit~|ticket~|fine~|space~|bay~|warden~|attendant~)", 3),
        (r"meter~", 2),
        (r"permit~", 2),
        (r"pcn~|penalty charge~", 3),
        (r"traffic warden~|parking enforcement", 3),
        (r"double yellow~|double[- ]parked|double[- ]parking", 3),
        (r"blue badge~|disabled (?:bay~|space~)", 3),
        (r"resident(?:s'?)? (?:bay~|permit~)", 3),
        (r"driveway~", 2),
        (r"clamp(?:ed|ing)?|tow(?:ed|ing)(?: away)?", 2),
        (r"abandoned (?:car~|vehicle~|van~)", 3),
        (r"pay and display", 3),
        (r"space~", 1),
        (r"garage~", 1),
    ),
    "water": (
        (r"water", 2),
        (r"water (?:main~|pressure|supply|bill~|meter~)", 3),
        (r"leak(?:s|ed|ing|age|y)?", 2),
        (r"pipe~", 2),
        (r"burst", 2),
        (r"flood(?:s|ed|ing)?", 3),
        (r"drain~", 3),
        (r"drainage", 3),
        (r"sewer~|sewage", 3),
        (r"tap~", 2),
        (r"hydrant~", 3),
        (r"gull(?:y|ies)", 3),
        (r"puddle~", 2),
        (r"standing water", 3),
        (r"boil (?:water )?notice~", 3),
        (r"(?:brown|discoloured|discolored|cloudy) water", 3),
        (r"plumbing", 2),
        (r"storm drain~", 3),
        (r"(?:drinking|water) fountain~", 3),
        (r"overflow(?:s|ed|ing)?", 1),
    ),
    "green_spaces": (
        (r"park~", 2),
        (r"tree~", 2),
        (r"playground~", 3),
        (r"play area~|play park~", 3),
        (r"grass", 2),
        (r"garden~", 2),
        (r"allotment~", 3),
        (r"green space~|greenspace~", 3),
        (r"parks (?:team|department|dept)", 3),
        (r"bench(?:es)?", 2),
        (r"flower ?bed~|flowers", 2),
        (r"hedge~", 2),
        (r"mow(?:n|ed|ing)?", 2),
        (r"pond~", 2),
        (r"woods?|woodland~", 2),
        (r"nature reserve~", 3),
        (r"swings?|slide~", 2),
        (r"pitch(?:es)?", 1),
        (r"meadow~|common", 1),
        (r"branch(?:es)?", 2),
        (r"pruned?|pruning|overgrown", 2),
        (r"planting|planted", 2),
        (r"dog park~", 3),
        (r"cemetery|cemeteries|graveyard~", 2),
        (r"weed~", 1),
    ),
    "safety": (
        (r"safe(?:ty)?", 2),
        (r"unsafe", 3),
        (r"crime~", 3),
        (r"criminal~", 3),
        (r"theft~|thie(?:f|ves)", 3),
        (r"stolen|steal(?:s|ing)?|robbed|robber(?:y|ies)", 3),
        (r"burglar(?:y|ies|s)?|break[- ]ins?|broken into", 3),
        (r"police|cops?", 3),
        (r"vandal(?:s|ism|ised|ized)?", 3),
        (r"graffiti", 3),
        (r"drug~|dealer~|dealing", 2),
        (r"anti-?social|asb", 3),
        (r"mug(?:ged|ging)", 3),
        (r"assault(?:ed)?|attack(?:ed)?|stabb(?:ed|ing)|knife|knives", 3),
        (r"fight(?:s|ing)?", 2),
        (r"cctv", 3),
        (r"dangerous", 1),
        (r"dangerous (?:crossing~|junction~|driving)", 3),
        (r"speeding|speeders?|boy racers?|joyrid(?:ing|ers?)", 3),
        (r"scared|afraid|frightened|intimidat(?:ed|ing)", 2),
        (r"harass(?:ed|ment)", 3),
        (r"gang~", 2),
        (r"threat(?:s|ened|ening)?", 2),
        (r"needle~|syringe~", 2),
        (r"patrol(?:s|ling)?", 2),
        (r"neighbourhood watch|neighborhood watch", 3),
        (r"shoplift(?:ing|ers?)", 3),
        (r"(?:cars?|bikes?|motorbikes?) racing", 3),
        (r"(?:don't|do not|doesn't|does not|never) feel safe|feels? unsafe", 3),
        (r"slash(?:es|ed|ing)? tyres", 3),
    ),
}


_PLURAL = re.compile(r"(\w)~")
"""``word~`` in a lexicon term: the word, or its plural in -s or -es."""


def _category_pattern(terms: tuple[tuple[str, int], ...]) -> tuple[re.Pattern[str], list[int]]:
    """One alternation per category, heaviest then longest term first, each term a group: one
    scan of the text per category instead of one per term (about ten times faster)."""
    ordered = sorted(terms, key=lambda tw: (-tw[1], -len(tw[0])))
    plural = r"\1(?:e?s)?"
    body = "|".join(f"(?P<t{i}>{_PLURAL.sub(plural, term)})" for i, (term, _) in enumerate(ordered))
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])"), [w for _, w in ordered]


_COMPILED: tuple[tuple[str, re.Pattern[str], list[int]], ...] = tuple(
    (category, *_category_pattern(terms)) for category, terms in _LEXICON.items()
)


def _matches(text: str) -> list[tuple[int, int, str, int]]:
    """Every lexicon match, then the longest (heaviest on ties) of each overlapping group."""
    found: list[tuple[int, int, str, int]] = []
    for category, pattern, weights in _COMPILED:
        for match in pattern.finditer(text):
            if match.end() > match.start() and match.lastgroup is not None:
                weight = weights[int(match.lastgroup[1:])]
                found.append((match.start(), match.end(), category, weight))
    found.sort(key=lambda m: (-(m[1] - m[0]), -m[3], m[0], m[2]))
    taken: list[tuple[int, int, str, int]] = []
    for candidate in found:
        start, end = candidate[0], candidate[1]
        if all(end <= other[0] or start >= other[1] for other in taken):
            taken.append(candidate)
    taken.sort()
    return taken


@dataclass(frozen=True)
class _Model:
    """The shipped model (models/services.npz, described by models/services.json)."""

    tokenizer: Tokenizer
    vocabulary: int
    """Word pieces in the tokenizer's vocabulary: the first rows of ``unit_logits``."""
    buckets: int
    unit_logits: np.ndarray
    """Per word piece, then per hashed word unigram or bigram, its logits for each category
    (the word pieces' rows are the embedding block folded into the regression)."""
    unit_push: np.ndarray
    """``unit_logits`` less each row's mean: how much a unit favours each category."""
    token_weights: np.ndarray
    """Per word piece, its weight in the mean (small for frequent pieces)."""
    lexicon_weights: np.ndarray
    bias: np.ndarray
    threshold: float
    """Under this probability the guess is ``other`` ..."""
    threshold_unmatched: float
    """... and under this one where no lexicon term matched."""


@cache
def _model() -> _Model:
    """The model shipped in the package, loaded once per process (no pickles are read)."""
    directory = Path(str(resources.files("ombud.voice") / "models"))
    weights, card, tokenizer_file = (
        directory / "services.npz",
        directory / "services.json",
        directory / "tokenizer.json",
    )
    for path in (weights, card, tokenizer_file):
        if not path.is_file():
            raise ConfigError(f"the service model is incomplete: {path} is missing")
    try:
        meta = json.loads(card.read_text(encoding="utf-8"))
        if tuple(meta.get("categories", ())) != CATEGORIES:
            raise ConfigError(f"{card} must list the categories {list(CATEGORIES)}")
        tokenizer = _tokenizer(tokenizer_file)
        k, vocabulary, buckets = len(CATEGORIES), tokenizer.get_vocab_size(), int(meta["buckets"])
        threshold, unmatched = float(meta["threshold"]), float(meta["threshold_unmatched"])
        with np.load(weights, allow_pickle=False) as arrays:
            token_logits = arrays["token_logits"].astype(np.float32)
            token_weights = arrays["token_weights"].astype(np.float32)
            bucket_logits = arrays["bucket_logits"].astype(np.float32)
            lexicon_weights = arrays["lexicon_weights"].astype(np.float32)
            bias = arrays["bias"].astype(np.float32)
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"the service model in {directory} cannot be read: {exc}") from exc
    if (
        token_logits.shape != (vocabulary, k)
        or token_weights.shape != (vocabulary,)
        or bucket_logits.shape != (buckets, k)
        or lexicon_weights.shape != (k + 1, k)
        or bias.shape != (k,)
    ):
        raise ConfigError(f"{weights} does not have the shapes {card} describes")
    unit_logits = np.concatenate([token_logits, bucket_logits])
    return _Model(
        tokenizer=tokenizer,
        vocabulary=vocabulary,
        buckets=buckets,
        unit_logits=unit_logits,
        unit_push=unit_logits - unit_logits.mean(axis=1, keepdims=True),
        token_weights=token_weights,
        lexicon_weights=lexicon_weights,
        bias=bias,
        threshold=threshold,
        threshold_unmatched=unmatched,
    )


def classify_service(text: str) -> ServiceGuess:
    """The service a (normalised) message is about, with the terms that decided it.

    The model weighs the message's word pieces, its words and word pairs, and the lexicon's
    totals; the score is its probability for the category it chose, and ``matched`` the
    lexicon terms that agree with that choice or, where none does, the (up to three) words
    that weighed most for it ("council", "tax" for a confident ``other``). Under the model's
    threshold, and for a message with no words, the guess is ``other`` with score 0 and
    nothing matched.
    """
    return classify_services([text])[0]


def classify_services(texts: Sequence[str]) -> list[ServiceGuess]:
    """``classify_service`` of each text, in order, computed together (faster for many).

    Each text's guess is the same whatever else is in the batch: every sum is taken over that
    text's own units, in the same order.
    """
    prepared = [_prepare(text) for text in texts]
    model = _model()
    out: list[ServiceGuess] = [ServiceGuess("other", 0.0, ())] * len(prepared)
    todo: list[tuple[int, list[str], list[tuple[int, int, str, int]], bool]] = []
    pieces: list[tuple[list[int], list[int]]] = []
    rows: list[int] = []
    weights: list[np.ndarray] = []
    starts: list[int] = []
    lexicon: list[float] = []
    hashed: list[int] = []
    for index, lowered in enumerate(prepared):
        grams = [lowered[s:e] for s, e in _words(lowered)]
        if not grams:
            continue
        matches = _matches(lowered)
        totals = _totals(matches)
        ids, owners = _units(model.tokenizer, grams)
        buckets = _buckets(grams, model.buckets)
        # the text's units: word pieces (a weighted mean), then hashed grams (sum / sqrt(n))
        piece_weights = model.token_weights[ids]
        if ids:
            piece_weights = piece_weights / piece_weights.sum()
        starts.append(len(rows))
        rows += ids
        rows += [model.vocabulary + b for b in buckets]
        weights.append(piece_weights)
        weights.append(np.full(len(buckets), 1.0 / math.sqrt(len(buckets)), dtype=np.float32))
        lexicon += _lexicon_vector(totals)
        todo.append((index, grams, matches, bool(totals)))
        pieces.append((ids, owners))
        hashed.append(len(buckets))
    if not todo:
        return out
    unit_weights = np.concatenate(weights)
    pushes = unit_weights[:, None] * model.unit_logits[rows]
    logits = np.add.reduceat(pushes, starts, axis=0)
    lexicon_vectors = np.array(lexicon, dtype=np.float32).reshape(len(todo), -1)
    logits += (lexicon_vectors[:, :, None] * model.lexicon_weights[None]).sum(axis=1)
    logits += model.bias
    best = logits.argmax(axis=1)
    probabilities = 1.0 / np.exp(logits - logits.max(axis=1, keepdims=True)).sum(axis=1)
    for n, (index, grams, matches, matched_any) in enumerate(todo):
        probability = float(probabilities[n])
        threshold = model.threshold if matched_any else model.threshold_unmatched
        if probability < threshold:
            continue
        category = CATEGORIES[int(best[n])]
        lowered = prepared[index]
        matched = tuple(dict.fromkeys(lowered[s:e] for s, e, c, _w in matches if c == category))
        if not matched:
            ids, owners = pieces[n]
            piece_weights = unit_weights[starts[n] : starts[n] + len(ids)]
            matched = _weightiest_words(
                model, grams, ids, owners, piece_weights, int(best[n]), hashed[n]
            )
        out[index] = ServiceGuess(category, probability, matched)
    return out


def _weightiest_words(
    model: _Model,
    grams: list[str],
    ids: list[int],
    owners: list[int],
    piece_weights: np.ndarray,
    best: int,
    hashed: int,
) -> tuple[str, ...]:
    """The (up to three) distinct words that pushed hardest toward category ``best``, in text
    order: each word's pieces and its own hashed unigram (weighted as the model weighs it, over
    the ``hashed`` buckets of the text), against their mean over all categories. Words are
    shown to at most 40 characters."""
    rows = [model.vocabulary + zlib.crc32(g.encode("utf-8")) % model.buckets for g in grams]
    push = model.unit_push[rows, best] / math.sqrt(hashed)
    np.add.at(push, owners, piece_weights * model.unit_push[ids, best])
    first: dict[str, int] = {}
    for i in np.argsort(-push, kind="stable").tolist():
        if push[i] <= 0 or len(first) == 3:
            break
        first.setdefault(grams[i], i)
    return tuple(grams[i][:40] for i in sorted(first.values()))


def classify_by_lexicon(text: str) -> ServiceGuess:
    """The lexicon's own guess (the method before the model): ties and no match are ``other``."""
    lowered = _prepare(text)
    matches = _matches(lowered)
    totals = _totals(matches)
    if not totals:
        return ServiceGuess("other", 0.0, ())
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    best, top = ranked[0]
    if len(ranked) > 1 and ranked[1][1] == top:
        return ServiceGuess("other", 0.0, ())
    score = top / (sum(totals.values()) + 1)
    matched = tuple(
        dict.fromkeys(lowered[s:e] for s, e, category, _w in matches if category == best)
    )
    return ServiceGuess(best, score, matched)


def _prepare(text: str) -> str:
    """The text a guess is made on: case-folded, cut to its first ``MAX_CHARS`` characters, a
    lone surrogate (no character at all, and not UTF-8) replaced by "?"."""
    if not isinstance(text, str):
        raise MalformedError("text to classify must be a str")
    lowered = text[:MAX_CHARS].casefold()
    if not lowered.isascii():
        lowered = lowered.encode("utf-8", "replace").decode("utf-8")
    return lowered


def _totals(matches: list[tuple[int, int, str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for _start, _end, category, weight in matches:
        totals[category] = totals.get(category, 0) + weight
    return totals


def _lexicon_vector(totals: Mapping[str, int]) -> list[float]:
    """The lexicon as model input: log(1 + weight) per category, then 1 where nothing matched."""
    vector = [0.0] * (len(CATEGORIES) + 1)
    for category, total in totals.items():
        vector[_INDEX[category]] = math.log1p(total)
    vector[-1] = 0.0 if totals else 1.0
    return vector


def _words(lowered: str) -> list[tuple[int, int]]:
    """Each word's (start, end) in the text."""
    return [m.span() for m in _WORD.finditer(lowered)]


def _tokenizer(path: Path) -> Tokenizer:
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # the tokenizers library raises a bare Exception
        raise ConfigError(f"the tokenizer {path} cannot be read: {exc}") from None
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


_PIECES: dict[str, list[int]] = {}
"""Word → its word pieces, remembered (a word's pieces do not depend on its neighbours)."""
_PIECES_MAX = 50_000
"""Words remembered at most; past that the memory starts again (hostile text cannot grow it)."""
_REMEMBERED_CHARS = 40
"""Longer words are not remembered (they are rare, and hostile text could fill the memory)."""


def _units(tokenizer: Tokenizer, grams: list[str]) -> tuple[list[int], list[int]]:
    """The word pieces of the text's words (the sentiment model's vocabulary) that the
    vocabulary knows — an unknown piece ("[UNK]": a script or symbol it lacks, a word of over
    100 characters) says nothing about the service and is left out — and for each piece the
    index of its word."""
    ids: list[int] = []
    owners: list[int] = []
    unknown = tokenizer.token_to_id("[UNK]")
    for index, word in enumerate(grams):
        pieces = _PIECES.get(word)
        if pieces is None:
            pieces = [
                i for i in tokenizer.encode(word, add_special_tokens=False).ids if i != unknown
            ]
            if len(word) <= _REMEMBERED_CHARS:
                if len(_PIECES) >= _PIECES_MAX:
                    _PIECES.clear()
                _PIECES[word] = pieces
        ids += pieces
        owners += [index] * len(pieces)
    return ids, owners


def _buckets(grams: list[str], size: int) -> list[int]:
    """Hashed word unigrams and bigrams (CRC-32, stable across processes), each bucket once."""
    pairs = [f"{a} {b}" for a, b in itertools.pairwise(grams)]
    return sorted({zlib.crc32(g.encode("utf-8")) % size for g in grams + pairs})
