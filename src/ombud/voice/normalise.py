"""Text normalisation against obfuscation, applied to what residents write before it is classified.

Threat model: a writer who wants a post to slip past the sentiment and category classifiers, or
a coordinated campaign that wants near-duplicates to look distinct, hides words behind invisible
characters, look-alike letters from other scripts, styled "fonts", leetspeak and spaced-out
letters. ``normalise`` undoes those tricks deterministically, so that the text a classifier sees
is the text a reader sees; it never reads or writes anything, and it does not change the meaning
of ordinary text (numbers, road names, postcodes, Greek or Cyrillic sentences stay as they are).

Steps, in order (each function below names the specification it follows):

a. ``strip_invisible`` — text under a right-to-left override is put in display order (UAX #9),
   then Unicode general category Cf, Default_Ignorable_Code_Point
   (DerivedCoreProperties.txt: variation selectors, tag characters, Hangul fillers …), other
   controls and lone surrogates are removed; whitespace runs (``str.isspace``) become one space.
b. NFKC (Unicode UAX #15): fullwidth, mathematical alphanumerics, circled letters,
   superscripts and ligatures fold to their plain letters. (a) and (b) repeat until stable,
   because NFKC can expose new spaces (U+00A8 is SPACE + U+0308) and removal can leave a letter
   next to a mark it composes with.
c. ``fold_confusables`` — a Unicode TS #39 skeleton restricted to Latin targets and to words that
   are Latin already (see the function), from the table ``CONFUSABLES``.
d. ``unleet`` — leetspeak digits and signs inside Latin words (``h0rr1bl3`` → ``horrible``).
e. ``join_spaced_letters`` — ``t.e.r.r.i.b.l.e`` and ``t e r r i b l e`` → ``terrible``.
f. ``squeeze_repeats`` — three or more identical letters in a row → two (``sooooo`` → ``soo``).

Case is kept (the sentiment model reads it). ``normalise`` applies (a)-(f) until the text no
longer changes, so it is idempotent by construction. The loop ends: a pass that changes the text
lowers the number of look-alikes, or else the number of leetspeak characters, or else the length
of the text, and no step raises an earlier one of these; in practice the second pass finds nothing
left to do (the loop is capped at eight passes all the same).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

from ombud.errors import MalformedError

__all__ = [
    "CONFUSABLES",
    "fold_confusables",
    "join_spaced_letters",
    "normalise",
    "resolve_overrides",
    "skeleton",
    "squeeze_repeats",
    "strip_invisible",
    "unleet",
]

# --- (a) invisible characters ------------------------------------------------------------------

# Default_Ignorable_Code_Point, Unicode DerivedCoreProperties.txt (ranges, inclusive; the list
# has been stable since Unicode 14.0 added U+180F).
# Cf characters outside these ranges (Arabic number signs, interlinear annotation, Egyptian
# hieroglyph format controls) are removed by their category.
_DEFAULT_IGNORABLE: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # SOFT HYPHEN
    (0x034F, 0x034F),  # COMBINING GRAPHEME JOINER
    (0x061C, 0x061C),  # ARABIC LETTER MARK
    (0x115F, 0x1160),  # HANGUL CHOSEONG / JUNGSEONG FILLER
    (0x17B4, 0x17B5),  # KHMER VOWEL INHERENT AQ, AA
    (0x180B, 0x180F),  # MONGOLIAN FREE VARIATION SELECTORS, VOWEL SEPARATOR
    (0x200B, 0x200F),  # ZERO WIDTH SPACE, ZWNJ, ZWJ, LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides LRE … RLO, PDF
    (0x2060, 0x206F),  # WORD JOINER, invisible operators, bidi isolates U+2066-2069, deprecated
    (0x3164, 0x3164),  # HANGUL FILLER
    (0xFE00, 0xFE0F),  # VARIATION SELECTORS 1-16
    (0xFEFF, 0xFEFF),  # ZERO WIDTH NO-BREAK SPACE (BOM)
    (0xFFA0, 0xFFA0),  # HALFWIDTH HANGUL FILLER
    (0xFFF0, 0xFFF8),  # reserved
    (0x1BCA0, 0x1BCA3),  # SHORTHAND FORMAT CONTROLS
    (0x1D173, 0x1D17A),  # MUSICAL SYMBOL BEGIN/END BEAM … PHRASE
    (0xE0000, 0xE0FFF),  # TAG CHARACTERS U+E0000-E007F, VARIATION SELECTORS 17-256, reserved
)

_WHITESPACE_RUN = re.compile(r"\s+")


@functools.lru_cache(maxsize=8192)
def _is_invisible(ch: str) -> bool:
    """True for a character that renders as nothing (or is not a character at all); cached,
    as a text uses few distinct characters."""
    code = ord(ch)
    if any(low <= code <= high for low, high in _DEFAULT_IGNORABLE):
        return True
    category = unicodedata.category(ch)
    # Cf: format; Cs: a lone surrogate (not text, cannot be encoded); Cc: controls, except the
    # whitespace ones, which the whitespace rule turns into a space.
    return category in ("Cf", "Cs") or (category == "Cc" and not ch.isspace())


_RLO = "\u202e"
_PARAGRAPH_END = "\n\r\x1c-\x1e\x85\u2029"
_OVERRIDE = re.compile(
    rf"\u202e([^\u202a-\u202e\u2066-\u2069{_PARAGRAPH_END}]*)(?:\u202c|(?=[{_PARAGRAPH_END}]|\Z))"
)


def _visual_order(match: re.Match[str]) -> str:
    """An overridden run in the order a reader sees it: reversed, marks kept after their base."""
    run = match.group(1)
    if any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in run):
        return match.group(0)  # Hebrew or Arabic under RLO reads as it is written
    clusters: list[str] = []
    for ch in run:
        if clusters and unicodedata.category(ch)[0] == "M":
            clusters[-1] += ch
        else:
            clusters.append(ch)
    return "".join(reversed(clusters))


def resolve_overrides(text: str) -> str:
    """Put text under RIGHT-TO-LEFT OVERRIDE into the order it is displayed in (Unicode UAX #9).

    "RLO elbirret PDF" (U+202E … U+202C) displays as "terrible" (UAX #9 X4-X6 make every character
    of the run strong R; L2 reverses it), so deleting the controls alone would hand a classifier the
    reversed word. An RLO run that holds no other bidi control and no right-to-left letter, and
    ends at its PDF or at the end of the paragraph, is reversed (by characters, keeping combining
    marks after their base). Runs with nested embeddings or isolates are left in logical order and
    their controls are only removed: that is the limit of this step.
    """
    if _RLO not in text:
        return text
    return _OVERRIDE.sub(_visual_order, text)


def strip_invisible(text: str) -> str:
    """Step (a): drop format and default-ignorable characters, collapse whitespace.

    Removes Unicode general category Cf (zero-width space/joiner/non-joiner, word joiner, BOM,
    bidi controls U+202A-202E and U+2066-2069, soft hyphen …), every Default_Ignorable_Code_Point
    (Unicode DerivedCoreProperties.txt: variation selectors U+FE00-FE0F and U+E0100-E01EF, tag
    characters U+E0000-E007F, Hangul fillers), non-whitespace controls (Cc) and lone surrogates
    (Cs). Then every run of whitespace (``str.isspace``: Unicode White_Space plus the C0
    separators) becomes one U+0020 and the ends are stripped. Removing a joiner also splits emoji
    ZWJ sequences into their parts; that loses nothing a classifier reads. A right-to-left override
    is first resolved into display order (``resolve_overrides``).
    """
    text = resolve_overrides(text)
    # Each distinct character is judged once: a post repeats few of them.
    invisible = [ch for ch in set(text) if _is_invisible(ch)]
    if invisible:
        text = text.translate(dict.fromkeys(map(ord, invisible)))
    return _WHITESPACE_RUN.sub(" ", text).strip()


def _strip_and_nfkc(text: str) -> str:
    """Steps (a) and (b) until stable (UAX #15 NFKC; see the module docstring for why twice)."""
    while True:
        folded = unicodedata.normalize("NFKC", strip_invisible(text))
        if folded == text:
            return folded
        text = folded


# --- (c) confusables ---------------------------------------------------------------------------

# Derived from Unicode confusables.txt (Unicode Security Mechanisms for UTS #39, version 13.0.0,
# https://www.unicode.org/Public/security/latest/confusables.txt, © Unicode, Inc., Unicode
# licence: https://www.unicode.org/license.txt) by keeping the rows whose source is one code point
# outside ASCII that NFKC and NFD leave alone (NFKC, step (b), has already folded the others) and
# whose prototype is one ASCII letter or digit, dropping letters whose prototype is a digit
# (Cyrillic ZE U+0417 → 3 is a look-alike of a digit, not of a Latin letter). Where
# confusables.txt maps an upper-case letter to the prototype "l" (U+0399 GREEK CAPITAL LETTER
# IOTA, U+0406 and U+04C0 in Cyrillic), the table says "I", so that case survives.
# Format: the hex code point followed by the ASCII character it folds to.
_UNICODE_CONFUSABLES = """
00D7x 0131i 0184b 018Dg 0196I 01A6R 01BDs 01C0l 0251a 0261g 0263y 0269i
026Ai 026Fw 028Bu 028Fy 037FJ 0391A 0392B 0395E 0396Z 0397H 0399I 039AK
039CM 039DN 039FO 03A1P 03A4T 03A5Y 03A7X 03B1a 03B3y 03B9i 03BDv 03BFo
03C1p 03C3o 03C5u 03DCF 03F3j 03FAM 0405S 0406I 0408J 0410A 0412B 0415E
041AK 041CM 041DH 041EO 0420P 0421C 0422T 0423Y 0425X 042Cb 0430a 0433r
0435e 043Eo 0440p 0441c 0443y 0445x 0455s 0456i 0458j 0461w 0474V 0475v
04AEY 04AFy 04BBh 04BDe 04C0I 04CFi 0501d 050CG 051Bq 051CW 051Dw 054DU
054FS 0555O 0561w 0563q 0566q 0570h 0578n 057Cn 057Du 0581g 0584f 0585o
05C0l 05D5l 05D8v 05DFl 05E1o 0627l 0647o 0661l 0665o 0667V 06BEo 06C1o
06D5o 06F1l 06F5o 06F7V 07C0O 07CAl 0966o 09E6O 09EA8 09ED9 0A66o 0A679
0A6A8 0AE6o 0B038 0B20O 0B66O 0B689 0BE6o 0C02o 0C66o 0C82o 0CE6o 0D02o
0D20o 0D66o 0D6D9 0D82o 0E50o 0ED0o 101Do 1040o 10E7y 10FFo 1200U 12D0O
13A0D 13A1R 13A2T 13A5i 13A9Y 13AAA 13ABJ 13ACE 13B3W 13B7M 13BBH 13BDY
13C0G 13C2h 13C3Z 13CFb 13D2R 13D4W 13D5S 13D9V 13DAS 13DEL 13DFC 13E2P
13E6K 13E7d 13F3G 13F4B 142FV 144CU 146DP 146Fd 1472b 148DJ 14AAL 1541x
157CH 157Dx 1587R 15AFb 15B4F 15C5A 15DED 15EAD 15F0M 15F7B 166DX 166Ex
16B7X 16C1l 16D5K 16D6M 1D04c 1D0Fo 1D11o 1D1Cu 1D20v 1D21w 1D22z 1D26r
1D83g 1D8Cy 1E9Df 1EFFy 212Ee 2223l 2228v 222AU 22A4T 22C1v 22C3U 22FFE
2373i 2374p 237Aa 23FDl 2573X 27D9T 292Bx 292Cx 2A2Fx 2C85r 2C8EH 2C92I
2C94K 2C98M 2C9AN 2C9EO 2C9Fo 2CA2P 2CA3p 2CA4C 2CA5c 2CA6T 2CA8Y 2CACX
2CD0L 2D38V 2D39E 2D4Fl 2D54O 2D55Q 2D5DX 3007O A4D0B A4D1P A4D2d A4D3D
A4D4T A4D6G A4D7K A4D9J A4DAC A4DCZ A4DDF A4DFM A4E0N A4E1L A4E2S A4E3R
A4E6V A4E7H A4EAW A4EBX A4ECY A4EEA A4F0E A4F2l A4F3O A4F4U A647i A6DFV
A6EF2 A731s A798F A799f A79Fu A7B2J A7B3X A7B4B AB32e AB35f AB3Do AB47r
AB48r AB4Eu AB52u AB5Ay AB75i AB81r AB83w AB93z ABA9v ABAAs ABAFc 10282B
10286E 10287F 1028Al 10290X 10292O 10295P 10296S 10297T 102A0A 102A1B 102A2C 102A5F
102ABO 102B0M 102B1T 102B2Y 102B4X 102CFH 102F5Z 10301B 10302C 10309l 10311M 10315T
10317X 10320l 10322X 10404O 10415C 1041BL 10420S 1042Co 1043Dc 10448s 104B4R 104C2O
104CEU 104EAo 104F6u 10513N 10516O 10518K 1051CC 1051DV 10525F 10526L 10527X 114D0O
11706v 1170Aw 1170Ew 1170Fw 118A0V 118A2F 118A3L 118A4Y 118A6E 118A9Z 118AEE 118B2L
118B5O 118B8U 118BCT 118C0v 118C1s 118C2F 118C3i 118C4z 118C8o 118D7o 118D8u 118DCy
118E0O 118E5Z 118E6W 118E9C 118ECX 118EFW 118F2C 16F08V 16F0AT 16F16L 16F28l 16F35R
16F3AS 16F40A 16F42U 16F43Y 1D2063 1D20DV 1D2127 1D213F 1D216R 1D22AL 1E8C7l 1E8CB8
1F74CC 1F768T
"""

# Additions of ombud, not in confusables.txt, whose prototypes there are not ASCII (Greek κ → ĸ,
# τ → ᴛ; Cyrillic к → ĸ, т → ᴛ, н → ʜ, м → ʍ, в → ʙ) but which "faux Cyrillic" and small-capital
# styling use as Latin letters: Greek κ τ ε η ω μ χ, Cyrillic к т н м в, Latin kra and the small
# capitals ᴀ ʙ ᴅ ᴇ ꜰ ɢ ʜ ᴊ ᴋ ʟ ᴍ ɴ ᴘ ꞯ ʀ ᴛ. The negative circled and squared letters
# U+1F150-1F169 and U+1F170-1F189 (🅐, 🅰), which NFKC leaves alone, are added below.
_OMBUD_CONFUSABLES = """
03BAk 043Ak 0138k 1D0Bk 03C4t 0442t 1D1Bt 03B5e 03B7n 03C9w 03BCu 03C7x
043Dh 029Ch 043Cm 1D0Dm 0432b 0299b 0280r 0274n 1D05d 0262g 029Fl 1D07e
1D00a A730f 1D0Aj 1D18p A7AFq
"""


def _parse_table(data: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for item in data.split():
        table[chr(int(item[:-1], 16))] = item[-1]
    return table


def _build_confusables() -> Mapping[str, str]:
    table = _parse_table(_UNICODE_CONFUSABLES)
    table.update(_parse_table(_OMBUD_CONFUSABLES))
    for offset in range(26):
        letter = chr(ord("A") + offset)
        table[chr(0x1F150 + offset)] = letter  # NEGATIVE CIRCLED LATIN CAPITAL LETTER …
        table[chr(0x1F170 + offset)] = letter  # NEGATIVE SQUARED LATIN CAPITAL LETTER …
    return MappingProxyType(table)


CONFUSABLES: Mapping[str, str] = _build_confusables()
"""Look-alike character → the ASCII letter or digit it folds to (see ``fold_confusables``)."""

_LATIN, _LOOKALIKE, _LOOKALIKE_LETTER, _FOREIGN, _NEUTRAL, _GAP = range(6)


@lru_cache(maxsize=4096)
def _kind(ch: str) -> int:
    """What a character (of NFD text) says about the script of its word."""
    category = unicodedata.category(ch)
    if ch in CONFUSABLES:
        if "LATIN" in unicodedata.name(ch, "").split():
            return _LATIN  # alpha, dotless i, small capitals: Latin already, mangles no script
        return _LOOKALIKE_LETTER if category[0] == "L" else _LOOKALIKE
    if category[0] == "L":
        if ch.isascii() or "LATIN" in unicodedata.name(ch, "").split():
            return _LATIN
        return _FOREIGN
    if category[0] in "MN":
        return _NEUTRAL
    return _GAP


def _fold_word(word: str) -> str:
    return "".join(CONFUSABLES.get(ch, ch) for ch in word)


def fold_confusables(text: str) -> str:
    """Step (c): fold look-alikes of Latin letters to Latin, word by word (Unicode TS #39).

    The fold is the TS #39 §4 skeleton (NFD, map each character to its prototype, normalise
    again), but only toward Latin, only with the table ``CONFUSABLES``, and only where it cannot
    mangle a text that is genuinely in another script. A *word* is a run of letters, marks,
    digits and table characters. Its letters are *Latin* (ASCII, or named LATIN), *look-alikes*
    (in the table) or *foreign* (any other letter). A word is folded when:

    * it has no foreign letter and at least one Latin letter — a mixed-script word (TS #39 §5,
      mixed-script detection: one word in Latin and Cyrillic is what an attacker writes, not what
      a Russian writes); or
    * it has no Latin and no foreign letter but a look-alike letter (a whole-script confusable,
      TS #39 §4: Cyrillic "\u0441\u043e\u0440"), and the text as a whole has more Latin than
      foreign letters.

    So "bad" with a Cyrillic a (U+0430) becomes "bad" in any text; a Greek sentence keeps its
    capital omicron; and Cyrillic "\u0441\u043e\u0440" becomes "cop" in an English sentence but
    stays Cyrillic in a Russian one. Latin-script entries (U+0251 LATIN SMALL LETTER ALPHA,
    dotless i, the small capitals, the negative squared letters) fold in every word. Case is kept,
    so the table maps upper case to upper case. The result is NFKC again, since a folded base
    letter can compose with the mark after it (Cyrillic ё → e + U+0308 → ë).
    """
    decomposed = unicodedata.normalize("NFD", text)
    if not CONFUSABLES.keys().isdisjoint(decomposed):  # else every word stays as it is
        decomposed = _fold_words(decomposed)
    return unicodedata.normalize("NFKC", decomposed)


def _fold_words(decomposed: str) -> str:
    """``fold_confusables`` on NFD text, without the final NFKC."""
    latin = foreign = 0
    for ch in decomposed:
        kind = _kind(ch)
        latin += kind == _LATIN
        foreign += kind == _FOREIGN
    latin_context = latin > foreign
    out: list[str] = []
    start = 0
    length = len(decomposed)
    while start < length:
        if _kind(decomposed[start]) == _GAP:
            end = start + 1
            while end < length and _kind(decomposed[end]) == _GAP:
                end += 1
            out.append(decomposed[start:end])
            start = end
            continue
        end = start + 1
        while end < length and _kind(decomposed[end]) != _GAP:
            end += 1
        word = decomposed[start:end]
        kinds = {_kind(ch) for ch in word}
        if _FOREIGN in kinds:
            folded = word
        elif _LATIN in kinds or (_LOOKALIKE_LETTER in kinds and latin_context):
            folded = _fold_word(word)
        else:
            folded = word
        out.append(folded)
        start = end
    return "".join(out)


def skeleton(text: str) -> str:
    """The unconditional fold: NFKC, then every ``CONFUSABLES`` entry in every word, then NFKC.

    For comparing two strings for visual likeness (near-duplicate detection), as TS #39 §4 uses
    skeletons; not for display, since it turns genuinely Greek or Cyrillic words into Latin
    strings. ``normalise`` uses the word-restricted ``fold_confusables`` instead.
    """
    if not isinstance(text, str):
        raise MalformedError("text to fold must be a str")
    decomposed = unicodedata.normalize("NFD", _strip_and_nfkc(text))
    return unicodedata.normalize("NFKC", _fold_word(decomposed))


# --- (d) leetspeak -----------------------------------------------------------------------------

_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
_LEET_RUN = re.compile(r"[A-Za-z0-9@$!]+")
_LEET_GROUP = re.compile(r"[A-Za-z]+|[013457@$!]+|[2689]+")
_URL_OR_EMAIL = re.compile(r"://|^www\.|^@\w|^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", re.IGNORECASE)
_EDGE_ONLY = frozenset("@!")  # signs that are read as letters only between two letters
_INSIDE_LEET = re.compile(r"[A-Za-z][013457@$!]+[A-Za-z]")
"""What every rewritten run holds: a group of leet characters with letters on both sides."""


def _unleet_group(group: str, upper: bool) -> str:
    if set(group) == {"1"} and len(group) > 1:
        replaced = "l" * len(group)  # "a11", "ro11ing": a double l, never a double i
    else:
        replaced = "".join(_LEET[ch] for ch in group)
    return replaced.upper() if upper else replaced


def _unleet_run(run: str) -> str:
    letters = sum(ch.isalpha() for ch in run)
    if letters == 0 or 2 * letters < len(run):
        return run  # "2024", "10", "1337": numbers, not words
    if len(run) <= 4 and not any(ch.islower() for ch in run):
        return run  # "A4", "M25", "SW1A", "N1C": road numbers, postcodes and other codes
    groups = _LEET_GROUP.findall(run)
    kinds = ["a" if g[0].isalpha() else "l" if g[0] in _LEET else "n" for g in groups]
    internal = [
        0 < i < len(groups) - 1 and kinds[i - 1] == "a" and kinds[i + 1] == "a"
        for i in range(len(groups))
    ]
    if not any(internal[i] and kinds[i] == "l" for i in range(len(groups))):
        return run  # "5pm", "mp3", "b4", "4x4", "covid19": no digit inside a word
    upper = not any(ch.islower() for ch in run)
    last = len(groups) - 1
    out: list[str] = []
    for i, group in enumerate(groups):
        leading = i == 0 and i < last and kinds[1] == "a"
        trailing = i == last and i > 0 and kinds[i - 1] == "a"
        edge = (leading or trailing) and not _EDGE_ONLY & set(group)
        convert = kinds[i] == "l" and (internal[i] or edge)
        out.append(_unleet_group(group, upper) if convert else group)
    return "".join(out)


def _unleet_token(match: re.Match[str]) -> str:
    token = match.group(0)
    if _URL_OR_EMAIL.search(token):
        return token
    return _LEET_RUN.sub(lambda run: _unleet_run(run.group(0)), token)


def unleet(text: str) -> str:
    """Step (d): read leetspeak digits and signs as the letters they stand for.

    There is no standard for leetspeak; this is ombud's rule, made narrow so that numbers keep
    their meaning. A *run* is a maximal run of ASCII letters, digits and ``@ $ !`` inside a
    whitespace-separated token (tokens that look like a URL, an e-mail address or an @handle are
    left alone).
    A run is rewritten only if

    * at least half of it is ASCII letters ("2024", "10", "1337" are numbers);
    * it is not a short code: four characters or fewer without a lower-case letter ("A4",
      "M25", "SW1A", "N1C", "H3LL" — the price of keeping road numbers and postcodes);
    * a group of leet characters ``0 1 3 4 5 7 @ $ !`` sits *inside* it, with ASCII letters on
      both sides ("h0rr1bl3", "gr3@t", "$h1t"; not "5pm", "mp3", "b4", "4x4", "covid19").

    Then every inside group is rewritten, and so are leading and trailing groups of digits and
    ``$`` ("3" in "h0rr1bl3", "$" in "$h1t"); ``@`` and ``!`` only ever between letters, so
    "wow!" keeps its "!". The letters: 0→o, 1→i (but a run of 1s → l: "ro11ing" → "rolling"),
    3→e, 4→a, 5→s, 7→t, @→a, $→s, !→i, in upper case when the run has no lower-case letter.
    """
    if not _INSIDE_LEET.search(text):
        return text  # no run can qualify (the third rule), so nothing changes
    return re.sub(r"\S+", _unleet_token, text)


# --- (e) spaced-out letters --------------------------------------------------------------------

_SEPARATOR = r"[ .\-_*·•~]{1,3}"
_COMBINING = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_SINGLE_LETTER = rf"(?<![^\W_])[A-Za-z](?![^\W_]|[{_COMBINING}])"
_SPACED_WORD = re.compile(rf"{_SINGLE_LETTER}(?:{_SEPARATOR}{_SINGLE_LETTER}){{3,}}")
_NOT_LETTER = re.compile(r"[^A-Za-z]")


def join_spaced_letters(text: str) -> str:
    """Step (e): join single letters spelled out with separators into one word.

    ombud's rule (no standard covers it): four or more single ASCII letters, each standing alone
    (no letter, digit or combining mark next to it), separated by one to three of space, ``.``,
    ``-``, ``_``, ``*``, ``·``, ``•`` or ``~``, become one word: "t.e.r.r.i.b.l.e",
    "t e r r i b l e", "t-e-r-r-i-b-l-e" → "terrible". Three letters are left alone, so "a.m.",
    "U.S.A." and "e.g." stay. A run of single letters has no word breaks of its own, so
    "t e r r i b l e s e r v i c e" becomes one word; that is the cost of the rule.
    """
    return _SPACED_WORD.sub(lambda m: _NOT_LETTER.sub("", m.group(0)), text)


# --- (f) repeated letters ----------------------------------------------------------------------

_REPEATED_LETTER = re.compile(r"([^\W\d_])\1{2,}")


def _squeeze_token(match: re.Match[str]) -> str:
    token = match.group(0)
    if _URL_OR_EMAIL.search(token):
        return token
    return _REPEATED_LETTER.sub(r"\1\1", token)


def squeeze_repeats(text: str) -> str:
    """Step (f): three or more of the same letter in a row become two ("sooooo" → "soo").

    Two are kept because English doubles letters ("good", "terrible"), so "gooood" → "good"
    and "terrrrible" → "terrible". Letters only (Unicode letters, case-sensitive): "1000" and
    "!!!" are unchanged, and so are URLs, e-mail addresses and @handles ("www.").
    """
    if not _REPEATED_LETTER.search(text):
        return text  # letters are never spaces, so no token holds a run either
    return re.sub(r"\S+", _squeeze_token, text)


# --- the pipeline ------------------------------------------------------------------------------

_MAX_PASSES = 8


def _one_pass(text: str) -> str:
    text = _strip_and_nfkc(text)
    text = fold_confusables(text)
    text = unicodedata.normalize("NFKC", unleet(text))
    text = join_spaced_letters(text)
    return squeeze_repeats(text)


def normalise(text: str) -> str:
    """The text with steps (a)-(f) applied, repeated until it no longer changes (see above).

    Deterministic and pure; raises ``MalformedError`` only for something that is not a ``str``.
    """
    if not isinstance(text, str):
        raise MalformedError("text to normalise must be a str")
    for _ in range(_MAX_PASSES):
        folded = _one_pass(text)
        if folded == text:
            break
        text = folded
    return text
