"""Shared text helpers: sentences and words with exact character offsets, and the folding used
to compare words across spellings. Every stage that needs them imports them from here."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


# Abbreviations after which a period does not end a sentence (German and English news).
_ABBREV = {
    "dr", "prof", "hr", "fr", "nr", "str", "st", "bzw", "ca", "vgl", "usw", "etc", "z", "b", "d", "h",
    "u", "a", "o", "s", "v", "chr", "jh", "jhd", "mio", "mrd", "bzgl", "ggf", "inkl", "evtl", "sog",
    "mr", "mrs", "ms", "jr", "sr", "vs", "no", "gen", "col", "lt", "sgt", "capt", "gov", "sen", "rep",
    "jan", "feb", "mär", "apr", "jun", "jul", "aug", "sep", "sept", "okt", "oct", "nov", "dez", "dec",
    "abs", "art", "bd", "hrsg", "mind", "max", "min", "tel", "zit", "bspw", "dt", "engl", "franz",
    "med", "dipl", "ing", "phil", "rer", "nat", "habil", "mag", "bzw", "ff", "geb", "gest", "verh",
    "std", "abb", "ebd", "allg", "staatl", "ev", "kath", "ehem", "jr", "inc", "ltd", "co", "corp",
}

# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before whitespace,
# and always at a paragraph break. A single line break does not end one: hard-wrapped text breaks
# lines mid-sentence, and a line that does end a sentence ends with punctuation anyway.
_BOUNDARY = re.compile(r"[.!?…]+[\"'“”»«‘’)\]]*(?=\s)|\n[ \t]*\n")
_MONTH = re.compile(r"(Jan|Feb|Mär|Apr|Mai|Jun|Jul|Aug|Sep|Okt|Nov|Dez)", re.I)
# "1. FC Köln", "2. Bundesliga": an ordinal before an abbreviation in capitals or a league word.
_ORDINAL_NOUN = re.compile(r"(?:[A-ZÄÖÜ]{2,4}\b|Bundesliga|Liga|Klasse|Weltkrieg|Jahrhundert|Mal\b|Platz\b)")


def full_sentences(texts: list[str], min_chars: int, min_words: int) -> list[tuple[int, Span]]:
    """(index of the text, sentence) for the sentences of `texts` with at least `min_chars`
    characters and `min_words` words: headlines, captions and fragments rarely answer anything
    on their own."""
    return [(i, s) for i, text in enumerate(texts) for s in split_sentences(text)
            if len(s.text) >= min_chars and len(s.text.split()) >= min_words]


def split_sentences(text: str) -> list[Span]:
    """Sentences of `text` with exact offsets.

    Kept in-house: syntok 1.4.4 (tried for this) splits "1. FC Köln" and "am 3. Oktober" and
    keeps a quoted sentence glued to the next; these rules handle all three."""
    spans: list[Span] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.end()
        if not m.group(0).endswith("\n") and m.group(0).startswith(".") and not _ends_sentence(text, start, m, end):
            continue
        _push(spans, text, start, end)
        start = end
    _push(spans, text, start, len(text))
    return spans


def _ends_sentence(text: str, start: int, m: re.Match, end: int) -> bool:
    word = re.search(r"(\w+)\W*$", text[start:m.start() + 1])
    token = word.group(1) if word else ""
    low = token.lower()
    nxt = re.match(r"\s*(\S*)", text[end:end + 30]).group(1)
    if low in _ABBREV:
        return False                       # "z. B.", "Dr. med. Müller"
    if len(token) == 1 and token.isupper() and nxt[:1].isupper() and re.search(
            r"(?:^|\s)[A-ZÄÖÜ][\w'’-]*\s" + token + r"$", text[max(start, m.start() - 40):m.start()]):
        return False                       # an initial after a name: "Matthew J. Holman"
    if token.isdigit() and len(token) <= 2:
        # "am 3. Oktober", "1. FC Köln", "der 2. Weltkrieg": an ordinal, not the end.
        return nxt[:1].isupper() and not _MONTH.match(nxt) and not _ORDINAL_NOUN.match(nxt)
    return True


def _push(spans: list[Span], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip())
    trail = len(piece.rstrip())
    if trail > lead:
        spans.append(Span(start + lead, start + trail, piece[lead:trail]))


# Words: ordinals ("3."), numbers with separators ("1.000,5"), words with inner hyphens and
# apostrophes ("Kim Jong-un"), dotted abbreviations ("U.S."); everything else is punctuation, one
# character per token.
_TOKEN = re.compile(r"\d{1,2}\.(?=\s+\w)|\d+(?:[.,:]\d+)*(?:\s?%)?|\w+(?:[-'’.]\w+)*\.?(?<=\w\.)(?=\s)|\w+(?:[-'’]\w+)*|[^\w\s]")


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    text: str

    @property
    def is_word(self) -> bool:
        return self.text[:1].isalnum() or self.text[:1] == "_"


def tokens(text: str) -> list[Token]:
    """Words and punctuation marks of `text`, with offsets."""
    return [Token(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(text)]


def fold(text: str) -> str:
    """Lower case without diacritics, ß as ss: "Wŏnsan" and "Wonsan" compare equal."""
    text = unicodedata.normalize("NFKD", text.lower().replace("ß", "ss"))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def word_overlap(a: str, b: str) -> float:
    """Share of the shorter text's words (lower-cased, split on spaces) that the other has too:
    how much two quotes repeat each other."""
    ta, tb = set(a.lower().split()), set(b.lower().split())
    return len(ta & tb) / max(1, min(len(ta), len(tb)))


def without_ending(word: str, endings: tuple[str, ...], keep: int = 3) -> str:
    """`word` without the first of `endings` it ends with, if `keep` letters or more remain
    ("vergangenen" -> "vergangen" with the German adjective endings)."""
    for ending in endings:
        if word.endswith(ending) and len(word) - len(ending) >= keep:
            return word[:-len(ending)]
    return word
