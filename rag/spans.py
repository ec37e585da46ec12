"""Candidate short answers inside a sentence, and what kind of phrase each one is.

A candidate is any run of up to MAX_WORDS words that crosses no punctuation and neither starts nor
ends with a function word; the reader's model decides which one answers the question. The kind
flags (number, year, date, name, ...) are what lets it match "wann" to a date and "wer" to a name
without a German NER model (none is available offline)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import lang as langs
from .lexical import function_words
from .text import Token, fold, tokens

MAX_WORDS = 7
# Punctuation a phrase may not cross; the others (quotes, brackets) end it as well.
_YEAR = re.compile(r"^(1[0-9]{3}|20[0-9]{2})(er)?$")
_NUMBER = re.compile(r"^\d+(?:[.,:]\d+)*\.?(?:\s?%)?$")


@dataclass
class SpanCandidate:
    sentence: int        # index of the sentence among the reader's candidates
    i: int               # token range [i, j) in that sentence
    j: int
    start: int           # character offsets within the sentence
    end: int
    text: str


def word_kinds(word: str) -> dict[str, bool]:
    """Flags of a single word; a phrase's flags are built from its words'."""
    low = word.lower().rstrip(".")
    number_word = any(low in langs.rules(c).NUMBER_WORDS for c in langs.SUPPORTED)
    return {
        "digit": any(ch.isdigit() for ch in word),
        "number": bool(_NUMBER.match(word)) or number_word,
        "year": bool(_YEAR.match(word)),
        "month": langs.month_number(low) is not None,
        "weekday": langs.weekday_number(low) is not None,
        "time": any(low in langs.rules(c).TIME_WORDS for c in langs.SUPPORTED),
        "scale": any(low in langs.rules(c).SCALES for c in langs.SUPPORTED),
        "unit": low in langs.rules("de").UNITS,
        "cap": word[:1].isupper(),
        "upper": len(word) > 1 and word.isupper(),
        "role": any(langs.rules(c).ROLE.match(word) for c in langs.SUPPORTED),
    }


def sentence_spans(sentence_index: int, sentence: str, toks: list[Token] | None = None) -> list[SpanCandidate]:
    toks = tokens(sentence) if toks is None else toks
    stop = function_words()
    out = []
    n = len(toks)
    for i in range(n):
        if not toks[i].is_word or toks[i].text.lower() in stop:
            continue
        for j in range(i + 1, min(n, i + MAX_WORDS) + 1):
            last = toks[j - 1]
            if not last.is_word:
                break
            if last.text.lower() in stop:
                continue
            s, e = toks[i].start, last.end
            out.append(SpanCandidate(sentence_index, i, j, s, e, sentence[s:e]))
    return out


def content_words(text: str) -> set[str]:
    """Folded words of `text` that carry meaning (no function words, no one-letter words)."""
    stop = function_words()
    return {fold(t.text) for t in tokens(text) if t.is_word and t.text.lower() not in stop and len(t.text) > 1}


def _day(word: str) -> bool:
    digits = word.rstrip(".")
    return digits.isdigit() and 1 <= int(digits) <= 31


def _kinds_at(toks: list[Token], n: int) -> dict[str, bool]:
    """`word_kinds` of token n; {} for punctuation or outside the tokens."""
    return word_kinds(toks[n].text) if 0 <= n < len(toks) and toks[n].is_word else {}


def whole_date(toks: list[Token], i: int, j: int) -> tuple[int, int]:
    """Widen the token range [i, j) when it is part of a date, so that a date is answered whole:
    "2026" or "März" in "am 21. März 2026" become "21. März 2026" (the span model may prefer the
    year alone, which is what many XQuAD answers are, but a reader asking "when" wants the day)."""
    month = lambda n: _kinds_at(toks, n).get("month", False)
    day = lambda n: 0 <= n < len(toks) and toks[n].is_word and _day(toks[n].text)
    year = lambda n: _kinds_at(toks, n).get("year", False)
    if month(i - 1) and (year(i) or day(i - 2)):
        i -= 1
    if month(i) and day(i - 1):
        i -= 1
    if day(j - 1) and month(j):
        j += 1
    if month(j - 1) and year(j):
        j += 1
    return i, j


def date_only(toks: list[Token], i: int, j: int) -> tuple[int, int]:
    """Narrow the token range [i, j) of an answer to "when" to end with its date: the words after
    its last date word go ("Dienstag mit Außenminister" -> "Dienstag"), unless it has none. Date
    words are numbers, months, weekdays and time words ("Ende", "Jahrhunderts"); the words before
    stay ("neunzehnten Jahrhundert")."""
    inside = [n for n in range(i, j)
              if any(_kinds_at(toks, n).get(k) for k in ("digit", "year", "month", "weekday", "time"))]
    return (i, inside[-1] + 1) if inside else (i, j)


def with_unit(toks: list[Token], i: int, j: int) -> tuple[int, int]:
    """Widen the token range [i, j) that ends with a number (or a scale) by the scale and unit
    after it, so that "zwei" in "zwei Tage" and "1,5" in "1,5 Millionen Euro" are answered with
    what they count: a reader asking "how long" or "how much" wants "two days", not "two"; and
    one that starts with a scale by the number before it ("Million" in "eine Million Schuss": a
    number word such as "eine" never starts a candidate, being a function word too)."""
    if _kinds_at(toks, i).get("scale") and _kinds_at(toks, i - 1).get("number"):
        i -= 1
    if not (_kinds_at(toks, j - 1).get("number") or _kinds_at(toks, j - 1).get("scale")):
        return i, j
    for _ in range(2):          # a scale, then a unit ("Millionen Euro")
        kinds = _kinds_at(toks, j)
        if not (kinds.get("scale") or kinds.get("unit")):
            break
        j += 1
    return i, j
