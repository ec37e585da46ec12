"""Checkable tokens: the numbers, months and names a text commits to, and whether another text
(in German or English) contains them, modulo transliteration (Lawrow = Lavrov, Pjöngjang =
Pyongyang), German/English endings and a few exonyms. Shared by the claim check
(rag/verification.py, rag/claim_features.py) and the reader's answerability features
(rag/reader.py), which asks whether a passage has what a question names."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Callable, Iterable

from . import lang as langs
from .lexical import function_words, tokenize

_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,’'](?=\d)\d+)*")
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_MONTHS = {
    1: ("januar", "jänner", "january"), 2: ("februar", "february"), 3: ("märz", "maerz", "march"),
    4: ("april",), 5: ("mai", "may"), 6: ("juni", "june"), 7: ("juli", "july"),
    8: ("august",), 9: ("september",), 10: ("oktober", "october"), 11: ("november",),
    12: ("dezember", "december"),
}
MONTH_OF = {name: m for m, names in _MONTHS.items() for name in names}
_OPENERS = set(".!?:;\"„“”»«(‚‘'–-")
_WEEKDAYS = {"montag", "dienstag", "mittwoch", "donnerstag", "freitag", "samstag", "sonntag",
             "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
# Written-out numbers count on the evidence side only: "zwei" in a passage supports "2" in a
# claim, but a claim's "two" is not checked (too often "both", "a pair", "beide").
_NUMBER_WORDS = {
    "zwei": "2", "drei": "3", "vier": "4", "fünf": "5", "sechs": "6", "sieben": "7", "acht": "8",
    "neun": "9", "zehn": "10", "elf": "11", "zwölf": "12", "zwanzig": "20", "hundert": "100",
    "tausend": "1000", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "twenty": "20",
    "hundred": "100", "thousand": "1000",
}
# German/English transliteration, applied to both sides before names are compared.
_FOLD = [("tsch", "ch"), ("sch", "sh"), ("dsh", "j"), ("ph", "f"), ("th", "t"), ("ck", "k"),
         ("c", "k"), ("w", "v"), ("j", "y"), ("z", "s"), ("ie", "i"), ("oe", "o"), ("ue", "u"),
         ("ae", "a"), ("ou", "u"), ("y", "i")]


def canonical_number(raw: str) -> str:
    """'1.000' = '1,000' = '1000'; '3,5' = '3.5'; '007' = '7'."""
    if re.fullmatch(r"\d{1,3}(?:[.,’']\d{3})+", raw):
        return raw.translate({ord(c): None for c in ".,’'"}).lstrip("0") or "0"
    whole, _, frac = raw.replace(",", ".").partition(".")
    whole = whole.lstrip("0") or "0"
    frac = frac.rstrip("0")
    return f"{whole}.{frac}" if frac else whole


# What follows a number: a scale word ("1,5 Millionen", "30 thousand"), or the second number of a
# range with one ("30 to 50 thousand", "30 bis 50 Tausend"), whose scale the first shares.
_AFTER = re.compile(r"\s*([^\W\d_]+)")
_RANGE = re.compile(r"\s*(?:(?:to|and|or|bis|und|oder)\s+|[-–]\s*)(\d+(?:[.,’'](?=\d)\d+)*)\s*([^\W\d_]+)")


def _scaled(raw: str, exponent: int) -> str:
    value = Decimal(canonical_number(raw)) * (Decimal(10) ** exponent)
    return canonical_number(format(value.normalize(), "f"))


def _readings(text: str) -> list[tuple[str, str | None]]:
    """Every number of `text` as written (canonical) and its value with the scale word after it
    (None without one): "1,5 Millionen" is ("1.5", "1500000"), as "1.500.000" is ("1500000", None)."""
    scales = langs.scale_exponents()
    out = []
    for m in _NUMBER.finditer(text):
        word = _AFTER.match(text, m.end())
        exponent = scales.get(word.group(1).lower()) if word else None
        ranged = _RANGE.match(text, m.end())
        if exponent is None and ranged and _rising(m.group(0), ranged.group(1)):
            exponent = scales.get(ranged.group(2).lower())
        out.append((canonical_number(m.group(0)), None if exponent is None else _scaled(m.group(0), exponent)))
    return out


def _rising(first: str, second: str) -> bool:
    """A range goes up ("30 bis 50"); "in 2010 and 5 million" is no range."""
    return Decimal(canonical_number(first)) < Decimal(canonical_number(second))


def numbers(text: str) -> set[str]:
    """The numbers a text commits to, with their scale: "1.5 million" is 1500000, which
    "1.500.000" and "1,5 Millionen" state and "1,5 Milliarden" does not."""
    return {scaled or raw for raw, scaled in _readings(text)}


# A decade by its last two digits ("die 90er Jahre", "the '90s"): the evidence states the
# "1990s" of a claim (its number 1990), whichever century is meant.
_DECADE = re.compile(r"(?<![\w.,])['’]?([1-9]0)(?:er|s)\b")


def evidence_numbers(text: str) -> set[str]:
    """The numbers a text states, also in words (zwei, vierten, third) and as decades: what
    a claim's numbers are looked up in. Claims are read by `numbers` only (a claim's "two" is
    too often "both" or "a pair" to be checked)."""
    words = {w.lower() for w in WORD.findall(text)}
    ordinals = langs.ordinal_words()
    # As written and scaled: "1,5 Millionen" states both a claim's "1.5 million" and its "1.5".
    out = {n for reading in _readings(text) for n in reading if n}
    out |= {_NUMBER_WORDS[w] for w in words if w in _NUMBER_WORDS}
    out |= {str(ordinals[w]) for w in words if w in ordinals}
    for m in _DECADE.finditer(text):
        out |= {str(1900 + int(m.group(1))), str(2000 + int(m.group(1)))}
    return out


def months(text: str) -> set[int]:
    return {MONTH_OF[w.lower()] for w in WORD.findall(text) if w.lower() in MONTH_OF
            and (w[0].isupper() or w.lower() not in ("may", "august"))}


_MONTH_COMPOUND = re.compile(r"(?i)\b(%s)[^\W\d_]{5,}" % "|".join(sorted(
    (n for n in MONTH_OF if len(n) >= 4), key=len, reverse=True)))


def evidence_months(text: str) -> set[int]:
    """Months the evidence names, also as the first part of a German compound ("in der letzten
    Februarwoche" = February); "Mai" is left out there (Maiskolben, Mainz)."""
    return months(text) | {MONTH_OF[m.group(1).lower()] for m in _MONTH_COMPOUND.finditer(text)
                           if m.group(0)[0].isupper()}


@lru_cache(maxsize=20000)
def fold(word: str) -> str:
    """A spelling key that German and English transliterations of one name share."""
    w = unicodedata.normalize("NFKD", word.lower().replace("ß", "ss"))
    w = "".join(c for c in w if not unicodedata.combining(c))
    for a, b in _FOLD:
        w = w.replace(a, b)
    return re.sub(r"(.)\1+", r"\1", w)


# Endings that differ between a German word and its English counterpart (russische/Russian,
# europäischen/European, Normannen/Normans), removed before names are compared.
_ENDINGS = ("ishen", "isher", "ishes", "ishem", "ishe", "ish", "ian", "ans", "ern", "en", "er", "es",
            "an", "e", "s", "n")


# English names whose German form no folding reaches: the German stems that count for them.
_ALIASES = {
    "german": ("deutsch",), "germany": ("deutschland",), "french": ("franzos", "frankreich"),
    "france": ("frankreich",), "dutch": ("niederl", "hollan"), "netherlands": ("niederland",),
    "greek": ("griech",), "greece": ("griechenland",), "swiss": ("schweiz",),
    "switzerland": ("schweiz",), "polish": ("poln", "polen"), "poland": ("polen",),
    "austria": ("osterreich",), "austrian": ("osterreich",), "hungary": ("ungarn",),
    "hungarian": ("ungar",), "spain": ("spanien",), "italy": ("italien",), "russia": ("russland",),
    "turkey": ("turkei",), "egypt": ("agypten",), "cologne": ("koln",), "munich": ("munchen",),
    "vienna": ("wien",), "warsaw": ("warschau",), "moscow": ("moskau",), "prague": ("prag",),
    "brussels": ("brussel",), "geneva": ("genf",), "kiev": ("kiew",), "kyiv": ("kiew",),
    "black": ("schwarz",), "sea": ("meer", "see"), "north": ("nord",), "south": ("sud",),
    "east": ("ost",), "west": ("west",), "union": ("union",), "empire": ("reich",),
    "king": ("konig",), "queen": ("konigin",), "university": ("universit",), "river": ("fluss",),
}


@lru_cache(maxsize=20000)
def stem(key: str) -> str:
    for e in _ENDINGS:
        if key.endswith(e) and len(key) - len(e) >= 3:
            return key[:-len(e)]
    return key


def names(text: str) -> list[str]:
    """Capitalised words that are not the first word of a sentence or clause, not function
    words, months or weekdays: the names (and, in German, nouns) a claim commits to."""
    stop = function_words()
    out = []
    for m in WORD.finditer(text):
        w = m.group(0)
        if not w[0].isupper() or len(w) < 2:
            continue
        before = re.sub(r"\[[^\]]*\]", "", text[:m.start()]).rstrip()
        if not before or before[-1] in _OPENERS:
            continue        # sentence- or quote-initial: capitalised for grammar, not as a name
        low = w.lower()
        if low in stop or low in MONTH_OF or low in _WEEKDAYS:
            continue
        out.append(re.sub(r"['’]s$", "", w))     # ABC's -> ABC: the evidence has no possessive
    return out


def name_keys(text: str) -> set[str]:
    """Spelling keys of the names in `text` and of their German exonyms, for a word-by-word match
    across transliterations (`name_key(word) in name_keys(question)`: Lavrov's = Lawrow)."""
    keys = set()
    for n in names(text):
        if len(fold(n)) >= 4:
            keys.add(name_key(n))
        keys.update(name_key(alias) for alias in _ALIASES.get(n.lower(), ()))
    return keys


def name_key(word: str) -> str:
    return stem(fold(re.sub(r"['’]s$", "", word)))


def _name_found(name: str, words: set[str], folded_text: str) -> bool:
    key = fold(name)
    if any(fold(alias) in folded_text for alias in _ALIASES.get(name.lower(), ())):
        return True
    if len(key) < 4:
        return key in words
    if key in folded_text:
        return True      # also inside a compound: "Nordkorea" in "Nordkoreareise"
    if any(stem(w) == stem(key) for w in words):
        return True
    for w in words:
        if abs(len(w) - len(key)) <= 6 and (w[:1] == key[:1] or w[1:2] == key[1:2]) and _prefix_like(key, w):
            return True
        # The end of a compound: Britain in Großbritannien, California in Südkalifornien. The
        # part before it is a word of three letters at least: "Pilot" is not in "spielten".
        if len(key) >= 5 and len(w) > len(key) and any(
                w[i:i + 1] == key[:1] and _prefix_like(key, w[i:]) for i in range(3, len(w) - len(key) + 2)):
            return True
    return False


def names_lacking(candidates: Iterable[str], text: str) -> list[str]:
    """The `candidates` (names) that `text` lacks, spelled as there or transliterated (Lawrow =
    Lavrov); `text` is folded once for all of them."""
    folded = [fold(w) for w in WORD.findall(text)]
    words, folded_text = set(folded), " ".join(folded)
    return [n for n in candidates if not _name_found(n, words, folded_text)]


def _prefix_like(key: str, w: str) -> bool:
    """`w` starts with `key` up to a changed ending or a transliteration difference."""
    return any(SequenceMatcher(None, key, w[:cut]).ratio() >= 0.8
               for cut in (len(key) - 1, len(key), len(key) + 1, len(key) + 2))


def known_names(index, lang: str) -> Callable[[str], bool]:
    """Which names of a claim in another language than the articles can be checked: those whose
    every stemmed term the articles' lexical index (rag/lexical.py BM25Index) holds, spelled as
    there or transliterated (its `term_keys(name_key)`, so "Lavrov" and "Shoigu" count for the
    articles' Lawrow and Schoigu). A translated "United Kingdom" is in neither and is not checked."""
    term_keys = index.term_keys(name_key)

    def known(name: str) -> bool:
        if any(name_key(alias) in term_keys for alias in _ALIASES.get(name.lower(), ())):
            return True         # Moscow: the articles say Moskau
        terms = tokenize(name, lang)
        return bool(terms) and all(index.document_frequency(t) or name_key(t) in term_keys for t in terms)
    return known


@dataclass(frozen=True)
class Agreement:
    missing: tuple[str, ...]     # claim tokens the evidence does not contain

    @property
    def ok(self) -> bool:
        return not self.missing


def agreement(claim: str, evidence: str, checkable: Callable[[str], bool] | None = None) -> Agreement:
    """Which of the claim's numbers, months and names the evidence lacks. `checkable(name)` says
    which names to check; for a claim in another language than its source only names the
    source language also uses are (a translated "United Kingdom" cannot be found in German)."""
    ev_numbers = evidence_numbers(evidence)
    missing = [n for n in sorted(numbers(claim)) if n not in ev_numbers]
    ev_months = evidence_months(evidence)
    missing += [f"month {m}" for m in sorted(months(claim)) if m not in ev_months]
    missing += names_lacking([n for n in dict.fromkeys(names(claim)) if checkable is None or checkable(n)],
                             evidence)
    return Agreement(tuple(missing))
