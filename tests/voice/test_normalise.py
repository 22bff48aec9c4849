"""Text normalisation against obfuscation: each step, properties, and the obfuscation corpus
(tests/voice/obfuscation_corpus.jsonl, reused by the sentiment tests)."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ombud.errors import MalformedError
from ombud.voice import normalise as normalise_module
from ombud.voice.normalise import (
    CONFUSABLES,
    fold_confusables,
    join_spaced_letters,
    normalise,
    resolve_overrides,
    skeleton,
    squeeze_repeats,
    strip_invisible,
    unleet,
)

CORPUS = Path(__file__).with_name("obfuscation_corpus.jsonl")


def load_corpus() -> list[dict[str, Any]]:
    with CORPUS.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def default_ignorable(ch: str) -> bool:
    code = ord(ch)
    return (
        unicodedata.category(ch) == "Cf"
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0000 <= code <= 0xE0FFF
        or code in (0x00AD, 0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0)
    )


# --- (a) invisible characters and whitespace ---------------------------------------------------


@pytest.mark.parametrize(
    "invisible",
    [
        "\u200b",  # ZERO WIDTH SPACE
        "\u200c",  # ZERO WIDTH NON-JOINER
        "\u200d",  # ZERO WIDTH JOINER
        "\u2060",  # WORD JOINER
        "\ufeff",  # BOM
        "\u00ad",  # SOFT HYPHEN
        "\u200e",  # LRM
        "\u200f",  # RLM
        "\u202a",  # LRE
        "\u202b",  # RLE
        "\u202c",  # PDF
        "\u202d",  # LRO
        "\u2066",  # LRI
        "\u2067",  # RLI
        "\u2068",  # FSI
        "\u2069",  # PDI
        "\u061c",  # ARABIC LETTER MARK
        "\u180e",  # MONGOLIAN VOWEL SEPARATOR
        "\ufe0f",  # VARIATION SELECTOR-16
        "\ufe00",  # VARIATION SELECTOR-1
        "\U000e0100",  # VARIATION SELECTOR-17
        "\U000e01ef",  # VARIATION SELECTOR-256
        "\U000e0001",  # LANGUAGE TAG
        "\U000e0061",  # TAG LATIN SMALL LETTER A
        "\U000e007f",  # CANCEL TAG
        "\u034f",  # COMBINING GRAPHEME JOINER
        "\u3164",  # HANGUL FILLER
        "\u0600",  # ARABIC NUMBER SIGN (Cf, not default-ignorable)
        "\x00",  # NUL
        "\x07",  # BEL
        "\ud800",  # a lone surrogate
    ],
)
def test_strip_invisible_removes(invisible: str) -> None:
    assert strip_invisible(f"bi{invisible}ns{invisible}") == "bins"
    assert normalise(f"b{invisible}i{invisible}n{invisible}s") == "bins"


def test_strip_invisible_collapses_whitespace() -> None:
    text = "\t the \u00a0 bins\n\nwere\u3000not\u2028collected\u2003 "
    assert strip_invisible(text) == "the bins were not collected"


def test_right_to_left_override_is_put_in_display_order() -> None:
    # "RLO elbirret PDF" is displayed as "terrible" (UAX #9); a reader sees "terrible".
    assert resolve_overrides("so \u202eelbirret\u202c today") == "so terrible today"
    assert normalise("so \u202eelbirret\u202c today") == "so terrible today"
    # Without a PDF the override ends with the paragraph.
    assert normalise("\u202eecivres elbirret\nok") == "terrible service ok"
    # Combining marks stay after their base.
    assert resolve_overrides("\u202ee\u0301fac\u202c") == "cafe\u0301"
    # Hebrew under RLO already reads as written; nested controls are only stripped.
    hebrew = "\u202e\u05e9\u05dc\u05d5\u05dd\u202c"
    assert normalise(hebrew) == "\u05e9\u05dc\u05d5\u05dd"
    assert normalise("\u202eab\u202acd\u202c\u202c") == "abcd"


# --- (b) NFKC ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("styled", "plain"),
    [
        ("\uff42\uff49\uff4e\uff53", "bins"),  # fullwidth
        ("\U0001d41b\U0001d41a\U0001d41d", "bad"),  # mathematical bold
        ("\U0001d44f\U0001d44e\U0001d451", "bad"),  # mathematical italic
        ("\U0001d4eb\U0001d4ea\U0001d4ed", "bad"),  # mathematical bold script
        ("\U0001d553\U0001d552\U0001d555", "bad"),  # double-struck
        ("\u24d1\u24d0\u24d3", "bad"),  # circled
        ("\u1d47\u1d43\u1d48", "bad"),  # modifier (superscript) letters
        ("\ufb01xed", "fixed"),  # ligature fi
        ("\uff11\uff10 buses", "10 buses"),  # fullwidth digits stay digits
    ],
)
def test_nfkc_folds_styled_letters(styled: str, plain: str) -> None:
    assert normalise(styled) == plain


# --- (c) confusables ---------------------------------------------------------------------------


def test_confusables_table_shape() -> None:
    assert len(CONFUSABLES) > 400
    for source, target in CONFUSABLES.items():
        assert len(source) == 1 and not source.isascii()
        assert len(target) == 1 and target.isascii() and target.isalnum()
        assert unicodedata.normalize("NFKC", source) == source
        assert unicodedata.normalize("NFD", source) == source
        # letters fold to letters: Cyrillic ZE (a look-alike of 3) is not in the table
        if unicodedata.category(source).startswith("L"):
            assert target.isalpha(), hex(ord(source))
    assert "\u0417" not in CONFUSABLES


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("\u0430", "a"),  # CYRILLIC SMALL LETTER A
        ("\u0435", "e"),
        ("\u043e", "o"),
        ("\u0440", "p"),
        ("\u0441", "c"),
        ("\u0443", "y"),
        ("\u0445", "x"),
        ("\u0455", "s"),
        ("\u0456", "i"),
        ("\u0458", "j"),
        ("\u0501", "d"),  # Komi de
        ("\u0261", "g"),  # Latin script g
        ("\u03bf", "o"),  # GREEK SMALL LETTER OMICRON
        ("\u03b1", "a"),
        ("\u03bd", "v"),
        ("\u03b9", "i"),
        ("\u03ba", "k"),
        ("\u03c4", "t"),
        ("\u03c1", "p"),
        ("\u0410", "A"),  # upper case keeps its case
        ("\u0415", "E"),
        ("\u041e", "O"),
        ("\u0420", "P"),
        ("\u0421", "C"),
        ("\u0422", "T"),
        ("\u041d", "H"),
        ("\u0406", "I"),  # confusables.txt says "l"; the table keeps the capital
        ("\u0399", "I"),
        ("\u039f", "O"),
        ("\u0391", "A"),
        ("\u1d1b", "t"),  # small capital T
        ("\U0001f171", "B"),  # negative squared B
    ],
)
def test_confusables_map_to_latin(source: str, target: str) -> None:
    assert CONFUSABLES[source] == target


def test_mixed_script_word_is_folded() -> None:
    assert fold_confusables("b\u0430d") == "bad"
    assert fold_confusables("\u0422he b\u0456ns") == "The bins"
    assert normalise("t\u0435rr\u0456bl\u0435 s\u0435rv\u0456c\u0435") == "terrible service"
    # a folded base letter composes with its mark again: Cyrillic io (ie + diaeresis), Latin word
    assert fold_confusables("No\u0451l") == "No\u00ebl"


def test_whole_script_confusable_word_follows_its_text() -> None:
    cop = "\u0441\u043e\u0440"  # Cyrillic, looks like "cop"
    assert fold_confusables(f"the {cop} was rude") == "the cop was rude"
    russian = (
        f"\u041c\u0443\u0441\u043e\u0440 \u043d\u0435 "
        f"\u0432\u044b\u0432\u0435\u0437\u043b\u0438, {cop}"
    )
    assert fold_confusables(russian) == russian


def test_greek_and_cyrillic_sentences_are_not_mangled() -> None:
    greek = (
        "\u039f \u03b4\u03c1\u03cc\u03bc\u03bf\u03c2 "
        "\u03b5\u03af\u03bd\u03b1\u03b9 \u03ba\u03b1\u03ba\u03cc\u03c2"
    )
    assert normalise(greek) == unicodedata.normalize("NFKC", greek)
    cyrillic = (
        "\u041e\u0447\u0435\u043d\u044c \u043f\u043b\u043e\u0445\u043e\u0439 "
        "\u0430\u0432\u0442\u043e\u0431\u0443\u0441"
    )
    assert normalise(cyrillic) == cyrillic
    # a word with a letter that has no Latin look-alike is never folded
    assert fold_confusables("b\u0430d\u0434") == "b\u0430d\u0434"


def test_latin_script_lookalikes_fold_everywhere() -> None:
    small_caps = "\u1d1b\u029c\u026a\ua731 \u026a\ua731 \ua731\u1d0d\u1d00\u029f\u029f"
    assert normalise(small_caps) == "this is small"
    assert normalise("\U0001f171\U0001f170\U0001f173") == "BAD"


def test_skeleton_folds_regardless_of_script() -> None:
    cop = "\u0441\u043e\u0440"
    assert skeleton(cop) == "cop"
    assert skeleton("\uff42\u0430\u200bd") == "bad"


# --- (d) leetspeak -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leet", "plain"),
    [
        ("h0rr1bl3", "horrible"),
        ("gr3@t", "great"),
        ("$h1t", "shit"),
        ("sh!t", "shit"),
        ("b@d", "bad"),
        ("w00t", "woot"),
        ("ro11ing", "rolling"),
        ("t3rr1bl3 s3rv1c3", "terrible service"),
        ("H0RR1BL3 SERVICE", "HORRIBLE SERVICE"),
        ("#b1nfail", "#binfail"),
        ("(d1sgust1ng)", "(disgusting)"),
    ],
)
def test_unleet_reads_letters(leet: str, plain: str) -> None:
    assert unleet(leet) == plain


@pytest.mark.parametrize(
    "text",
    [
        "10 buses",
        "2024",
        "5pm",
        "10am",
        "the A4 road",
        "M25",
        "SW1A 1AA",
        "N1C 4QP",
        "mp3",
        "pm10 and NO2",
        "covid19",
        "b4",
        "4ever",
        "3x4x5",
        "1337",
        "3rd",
        "wow!",
        "a $5 fare",
        "mail me at j0hn@example.com",
        "https://example.org/r3p0rt",
        "www.c1ty.gov",
        "@c0uncil",
    ],
)
def test_unleet_leaves_numbers_and_codes(text: str) -> None:
    assert unleet(text) == text
    assert normalise(text) == text


# --- (e) spaced letters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spaced", "joined"),
    [
        ("t.e.r.r.i.b.l.e", "terrible"),
        ("t e r r i b l e", "terrible"),
        ("t-e-r-r-i-b-l-e", "terrible"),
        ("t_e_r_r_i_b_l_e", "terrible"),
        ("t . e . r . r . i . b . l . e", "terrible"),
        ("so t.e.r.r.i.b.l.e.", "so terrible."),
        ("a w f u l service", "awful service"),
        ("S*H*I*T", "SHIT"),
    ],
)
def test_join_spaced_letters(spaced: str, joined: str) -> None:
    assert join_spaced_letters(spaced) == joined


@pytest.mark.parametrize(
    "text",
    ["U.S.A.", "a.m.", "e.g.", "b a d", "plan B", "bins a-b", "x.y.zz.w", "5 4 3 2 1"],
)
def test_join_spaced_letters_leaves_short_runs(text: str) -> None:
    assert join_spaced_letters(text) == text


# --- (f) repeated letters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "squeezed"),
    [
        ("sooooo", "soo"),
        ("terrrrrible", "terrible"),
        ("goooood", "good"),
        ("NOOOOO", "NOO"),
        ("good", "good"),
        ("1000 bins", "1000 bins"),
        ("!!!", "!!!"),
        ("aaAA", "aaAA"),
    ],
)
def test_squeeze_repeats(text: str, squeezed: str) -> None:
    assert squeeze_repeats(text) == squeezed


# --- the pipeline ------------------------------------------------------------------------------


def test_normalise_keeps_case_and_plain_text() -> None:
    text = "The Bins on Elm St. were NOT collected (again) - 10 buses, 5pm, A4 road, 2024!"
    assert normalise(text) == text


def test_normalise_refuses_non_text() -> None:
    with pytest.raises(MalformedError):
        normalise(b"bins")  # type: ignore[arg-type]
    with pytest.raises(MalformedError):
        skeleton(None)  # type: ignore[arg-type]


# ASCII letters, leet characters and separators, mixed with invisibles, bidi controls,
# look-alikes, foreign letters, combining marks, Hangul jamo and styled letters.
_TRICKY = st.sampled_from(
    list(
        "abcdefgiklnoprstuvxy ABCEHIKMOPTX0134579@$!.-_*~\n\u00a0"
        "\u200b\u200d\u00ad\ufe0f\u202e\u202c\u2066\u2069"
        "\u0430\u0435\u043e\u0441\u0434\u0451\u03bf\u03b4\u03ba"
        "\u0301\u0308\u00a8\u3164\u1100\u1161\uff41\U0001d41a\u1d1b\U0001f170\u05d0"
    )
)
_TEXT = st.one_of(st.text(), st.text(alphabet=_TRICKY, max_size=40))


@given(_TEXT)
@settings(max_examples=300, deadline=None)
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once


@given(st.text(alphabet=st.characters(codec=None)))
@settings(max_examples=200, deadline=None)
def test_normalise_never_raises_and_leaves_nothing_invisible(text: str) -> None:
    result = normalise(text)
    assert not any(default_ignorable(ch) for ch in result)
    assert result == result.strip()
    assert "  " not in result


@given(_TEXT)
@settings(max_examples=200, deadline=None)
def test_output_is_nfkc(text: str) -> None:
    result = normalise(text)
    assert unicodedata.normalize("NFKC", result) == result


# Short words of letters, leet characters, repeats and look-alikes: the shortcuts' edge cases.
_WORDS = st.lists(
    st.sampled_from(
        [*"aAbo01!@$ -", "aaa", "oooo", "11", "\u0430", "\u03ba", "\u0301", "www.", "://"]
    ),
    max_size=15,
).map("".join)


@given(st.one_of(_TEXT, _WORDS))
@settings(max_examples=500, deadline=None)
def test_the_shortcuts_change_no_result(text: str) -> None:
    """``unleet``, ``squeeze_repeats`` and ``fold_confusables`` skip their word-by-word pass
    when one scan of the text shows it would change nothing: the result is the full pass's."""
    assert unleet(text) == re.sub(r"\S+", normalise_module._unleet_token, text)
    assert squeeze_repeats(text) == re.sub(r"\S+", normalise_module._squeeze_token, text)
    decomposed = unicodedata.normalize("NFD", text)
    full = unicodedata.normalize("NFKC", normalise_module._fold_words(decomposed))
    assert fold_confusables(text) == full


# --- the obfuscation corpus --------------------------------------------------------------------


def test_corpus_size_and_shape() -> None:
    corpus = load_corpus()
    assert len(corpus) >= 40
    for pair in corpus:
        assert set(pair) == {"clean", "obfuscated", "technique"}
        assert pair["clean"] != pair["obfuscated"]
    techniques = {pair["technique"] for pair in corpus}
    for needed in (
        "zero_width_space",
        "cyrillic_homoglyphs",
        "greek_homoglyphs",
        "fullwidth",
        "math_bold",
        "leetspeak",
        "dotted_letters",
        "spaced_letters",
        "bidi_override",
        "bidi_isolates",
    ):
        assert needed in techniques
    assert sum(t.startswith("mixed") for t in techniques) >= 5


@pytest.mark.parametrize("pair", load_corpus(), ids=lambda pair: pair["technique"])
def test_corpus_obfuscation_is_undone(pair: dict[str, Any]) -> None:
    assert normalise(pair["obfuscated"]) == normalise(pair["clean"])
    # clean resident text passes through unchanged
    assert normalise(pair["clean"]) == pair["clean"]
