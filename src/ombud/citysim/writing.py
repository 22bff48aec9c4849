"""What simulated residents write: varied English about a service, with a given true sentiment.

Threat model: none of its own; it stands in for residents in the demo. Texts mix plain
sentences, slang, typos, emoji and a few obfuscated ones (invisible characters, homoglyphs,
leetspeak), and no two are built alike, so the campaign detector sees ordinary chatter. The
sentiment is the simulation's truth; the platform's label comes from the shipped model. Pure:
the random generator is passed in.
"""

from __future__ import annotations

import json
import random
from functools import cache
from importlib import resources

__all__ = ["SUBJECTS", "styles", "write_post"]

SUBJECTS = {
    # plain names of each service: the feeling is in what is said about it, not in the name
    "waste": [
        "the bins",
        "the collection round",
        "the recycling pickup",
        "bin day",
        "the bin collection",
        "the bin service",
    ],
    "transport": [
        "the bus",
        "line 14",
        "the night bus",
        "the tram",
        "the bus service",
        "the 7 bus",
    ],
    "roads": [
        "the roads",
        "the road surface",
        "the junction by the school",
        "the cycle lane",
        "the pavement",
        "the main road",
    ],
    "lighting": [
        "the streetlights",
        "street lighting",
        "the lamp posts",
        "the lights in the underpass",
        "the footpath lighting",
    ],
    "noise": [
        "the noise",
        "noise at night",
        "the sound from the works",
        "the evenings round here",
    ],
    "air": ["the air quality", "the air", "the air round here", "the air by the main road"],
    "parking": [
        "parking",
        "the parking",
        "parking spaces",
        "the parking meters",
        "resident parking",
        "the car park",
    ],
    "water": ["the water supply", "the tap water", "the water pressure", "the water"],
    "green_spaces": [
        "the park",
        "the playground",
        "the trees on our street",
        "the green space",
        "the community garden",
    ],
    "safety": [
        "safety",
        "the community officers",
        "safety near the station",
        "the crossings",
        "the neighbourhood watch",
    ],
    "other": [
        "the council",
        "the library hours",
        "the town hall",
        "the online forms",
        "the market",
    ],
}
CLAUSES = {
    "negative": [
        "is a disgrace",
        "is getting worse every week",
        "is terrible",
        "has been awful lately",
        "is a joke",
        "is ruining my sleep",
        "makes me so angry",
        "is unacceptable",
        "has been broken for days",
        "is a total mess",
        "drives me mad",
        "is the worst it has ever been",
        "keeps letting us down",
        "is really bad",
        "has gone downhill",
        "is shocking",
    ],
    "neutral": [
        "was changed this week",
        "is on the agenda at the meeting",
        "runs on a new schedule now",
        "will be reviewed next month",
        "was discussed at the residents meeting",
        "is being surveyed",
        "has a new contractor",
        "changes from monday",
        "was mentioned in the newsletter",
        "is handled by a different team now",
        "gets inspected on tuesdays",
        "has a consultation open",
    ],
    "positive": [
        "is great",
        "has really improved",
        "works well now",
        "is brilliant",
        "is so much better",
        "made my day",
        "is excellent",
        "has been fantastic",
        "is lovely",
        "is spot on these days",
        "deserves praise",
        "is a big improvement",
        "is really good",
        "has been reliable all week",
    ],
}
AMBIGUOUS = {
    # what a writer who feels the first label says in words that read like the second
    ("negative", "neutral"): [
        "was supposed to be sorted last week",
        "still has not been looked at",
        "was reported three times already",
        "is on its fourth week like this",
        "was meant to be fixed by now",
        "has not changed since the last complaint",
        "is what it is I suppose",
        "was the same yesterday",
        "has been like this since october",
    ],
    ("negative", "positive"): [
        "is just wonderful, third time this week",
        "is great, if you enjoy waiting",
        "is amazing, said no one",
        "oh brilliant, again",
        "is fantastic, love paying for nothing",
        "is perfect if you like chaos",
        "well done, another week of this",
        "is such a treat lol",
    ],
    ("neutral", "negative"): [
        "is closed for repairs until friday",
        "had a problem reported on monday",
        "was down for an hour this morning",
        "has works starting next week",
        "will be disrupted during the works",
        "was delayed by the storm",
        "had a complaint filed about it",
        "is affected by the strike notice",
    ],
    ("neutral", "positive"): [
        "has a new app, they say it helps",
        "gets an upgrade next month",
        "has new opening hours, apparently better",
        "was praised in the council report",
        "won some award I read",
        "is getting more funding next year",
        "has a new website with a nice map",
    ],
    ("positive", "neutral"): [
        "runs on time now",
        "is running normally",
        "seems fine this week",
        "no issues this week",
        "is on schedule",
        "was on time every day",
        "is as it should be",
        "looks tidy",
        "has been on schedule all week",
        "does the job",
    ],
    ("positive", "negative"): [
        "used to be terrible but is fine now",
        "was a nightmare last year, not anymore",
        "is no longer the disaster it was",
        "finally not awful",
        "stopped being a pain, about time",
        "is not bad at all now, I was wrong to complain",
    ],
}
STYLE_FILE = "style.json"
"""P(the words read like k | the writer feels j), per service, fitted by
``training/calibrate_writing.py`` so that the shipped model errs on these posts as it errs on
its held-out validation tweets (``voice/models/confusion.json``): the assumption the insight's
correction makes, made true in the simulation — and stated, since a real city's posts may not
honour it."""


@cache
def styles() -> dict[str, dict[str, dict[str, float]]]:
    text = (resources.files("ombud.citysim") / "data" / STYLE_FILE).read_text("utf-8")
    table: dict[str, dict[str, dict[str, float]]] = json.loads(text)["styles"]
    return table


OPENERS = [
    "",
    "",
    "",
    "honestly ",
    "tbh ",
    "just saying, ",
    "ok so ",
    "can I just say ",
    "fyi ",
    "update: ",
    "week 2 of this: ",
    "again: ",
    "wow, ",
    "well ",
]
PLACES = [
    "", "", "", " on our street", " round here", " near the station", " by the school",
    " in our area", " near the market", " at the end of the road", " in my block",
    " by the bakery", " near the clinic", " behind the sports hall", " by the old mill",
    " near the river path", " outside the pharmacy", " by the bus shelter", " on the hill",
    " near the kindergarten", " by the corner shop", " near the church", " by the canal",
]  # fmt: skip
DETAILS = [
    "", "", "", "", "since last tuesday", "my neighbours say the same", "been like this a while",
    "I walk past every morning", "I have lived here ten years", "my kids noticed it too",
    "told my partner about it", "saw it on the way to work", "the whole street is talking",
    "posting this from the tram", "first time I write here", "just my two cents",
    "noticed it on saturday", "this is my second message", "spoke to a neighbour",
    "as a pensioner here", "as a parent", "coming home late", "on my lunch break",
    "we moved here in spring", "took a photo but will not post it", "3rd time this month",
    "since the 14th", "for about a fortnight", "all weekend", "every evening",
]  # fmt: skip
TAILS = {
    "negative": [
        "",
        "",
        ".",
        "!",
        "!!",
        " 😡",
        " 😤",
        " ffs",
        " sort it out",
        " please fix it",
        " #fail",
        " why is nobody listening",
        " seriously",
        " 👎",
    ],
    "neutral": [
        "",
        "",
        ".",
        " fyi",
        " apparently",
        " as far as I know",
        " according to the leaflet",
        " for those asking",
        " ℹ️",  # noqa: RUF001 — an emoji residents use
    ],
    "positive": [
        "",
        "",
        ".",
        "!",
        " 👍",
        " 🙂",
        " thanks",
        " thank you!",
        " well done",
        " cheers",
        " 💚",
        " keep it up",
    ],
}
_HOMOGLYPHS = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "i": "\u0456"}
_LEET = {"a": "4", "e": "3", "o": "0", "i": "1"}


def _typo(text: str, rng: random.Random) -> str:
    if len(text) < 8:
        return text
    i = rng.randrange(1, len(text) - 2)
    kind = rng.randrange(3)
    if kind == 0:  # swap two letters
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == 1:  # drop one
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]  # double one


def _obfuscate(text: str, rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return "".join(c + ("\u200b" if c == " " and rng.random() < 0.3 else "") for c in text)
    table = _HOMOGLYPHS if kind == 1 else _LEET
    return "".join(table[c] if c in table and rng.random() < 0.4 else c for c in text)


def write_post(
    service: str, sentiment: str, rng: random.Random, *, style: str | None = None
) -> str:
    """A post about ``service`` whose writer feels ``sentiment`` (negative, neutral, positive),
    in words that read like ``style`` (by default drawn from the fitted ``styles``)."""
    subject = rng.choice(SUBJECTS[service])
    if style is None:
        weights = styles()[service][sentiment]
        style = rng.choices(list(weights), weights=list(weights.values()))[0]
    clause = rng.choice(CLAUSES[sentiment] if style == sentiment else AMBIGUOUS[sentiment, style])
    tail = rng.choice(TAILS[style])
    detail = rng.choice(DETAILS)
    text = f"{rng.choice(OPENERS)}{subject}{rng.choice(PLACES)} {clause}"
    text += f", {detail}{tail}" if detail and rng.random() < 0.5 else f"{tail}"
    if detail and not text.endswith(detail + tail):
        text = f"{detail[0].upper()}{detail[1:]}. {text}"
    if rng.random() < 0.3:  # a second sentence in the same voice
        text += f". {rng.choice(SUBJECTS[service])} {rng.choice(CLAUSES[style])}"
    if rng.random() < 0.5:
        text = text[0].upper() + text[1:]
    if rng.random() < 0.2:
        text = text.lower()
    for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
        text = _typo(text, rng)
    if rng.random() < 0.03:
        text = _obfuscate(text, rng)
    return text
