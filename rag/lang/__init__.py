"""Language rules, one module per language (rag/lang/de.py, rag/lang/en.py).

Each module holds everything the pipeline knows about its language: question words and the kind
of answer they ask for, answer phrasing, month and weekday names, number words and units, words
that mark instructions to an assistant, function words for language detection. Adding a language
means adding one module here with the same names."""
from __future__ import annotations

import importlib
import re
from functools import lru_cache
from types import ModuleType

SUPPORTED = ("de", "en")

# The kinds of answer a question can ask for; the reader's features and the English rendering use
# these names.
KINDS = ("count", "when", "where", "who", "which", "what", "how", "why", "other")
FACTOID = {"count", "when", "where", "who", "which", "what"}


@lru_cache(maxsize=None)
def rules(lang: str) -> ModuleType:
    """The rule module of `lang`, English for anything unknown."""
    code = lang if lang in SUPPORTED else "en"
    return importlib.import_module(f"{__name__}.{code}")


@lru_cache(maxsize=1)
def word_for_word_pattern() -> re.Pattern:
    """The word-for-word English after a German quote (PHRASES["word_for_word"], rag/reader.py
    `_word_for_word`), with the space before it: for the chat to show it apart and the evaluation
    to measure an answer without it."""
    shapes = [rules(code).PHRASES["word_for_word"].partition("{q}") for code in SUPPORTED]
    either = "|".join(re.escape(before) + r"[^\n]*?" + re.escape(after) for before, _, after in shapes if before)
    return re.compile(rf"\s*(?:{either})")


def _padded(question: str) -> str:
    """Lower case, single spaces, a space at each end: what the question-word patterns expect."""
    return " " + " ".join(question.lower().split()) + " "


def question_kind(question: str) -> str:
    """What a question asks for, by the first rule (in any supported language) that matches."""
    low = _padded(question)
    best, at = "other", len(low) + 1
    for code in SUPPORTED:
        for kind, pattern in rules(code).QUESTION_KINDS:
            m = pattern.search(low)
            # The earliest question word wins: "Wer war König, als ... wie viele ...?" asks who.
            if m and m.start() < at:
                best, at = kind, m.start()
    return best


def has_question_word(question: str) -> bool:
    """Does the question say what it asks for ("Und Putin?" does not)?"""
    low = _padded(question)
    return any(p.search(low) for code in SUPPORTED for _, p in rules(code).QUESTION_KINDS)


def asks_who_is(question: str) -> bool:
    """Does the question ask who a named person is ("Wer ist Kim Jong-un?", "Who is Peskov?")?
    The rest of the question is a name: one to five capitalised words, none of them a German
    genitive before a noun ("Wer war Ayurparibhadras Sohn?" asks for the son's name)."""
    for code in SUPPORTED:
        m = rules(code).WHO_IS.match(question)
        if not m:
            continue
        words = m.group("name").split()
        capitalised = all(w[:1].isupper() or w[:1].isdigit() for w in words) and len(words) <= 5
        genitive = any(w.endswith("s") and not w.endswith("'s") for w in words[:-1])
        return capitalised and not genitive and not any("'" in w or "’" in w for w in words)
    return False


def is_instruction(sentence: str) -> bool:
    """Is this sentence addressed to an assistant or reader as a command (a planted prompt)?"""
    return any(rules(code).INSTRUCTION.search(sentence) for code in SUPPORTED)


def month_number(word: str) -> int | None:
    w = word.lower().rstrip(".")
    for code in SUPPORTED:
        n = rules(code).MONTHS.get(w)
        if n:
            return n
    return None


def weekday_number(word: str) -> int | None:
    w = word.lower()
    for code in SUPPORTED:
        n = rules(code).WEEKDAYS.get(w)
        if n is not None:
            return n
    return None


@lru_cache(maxsize=None)
def ordinal_words() -> dict[str, int]:
    """Every supported language's ordinal words with their numbers (vierten: 4, fourth: 4)."""
    out = {}
    for code in SUPPORTED:
        r = rules(code)
        out.update({stem + end: n for stem, n in r.ORDINAL_STEMS.items() for end in r.ORDINAL_ENDINGS})
    return out


# The English names of the scale words (rules(code).SCALES values) and their powers of ten.
_SCALE_EXPONENTS = {"hundred": 2, "thousand": 3, "million": 6, "billion": 9, "trillion": 12}


@lru_cache(maxsize=None)
def scale_exponents() -> dict[str, int]:
    """Every supported language's scale words with their power of ten (Millionen: 6, billion: 9,
    Milliarden: 9, Billionen: 12)."""
    return {word: _SCALE_EXPONENTS[name] for code in SUPPORTED for word, name in rules(code).SCALES.items()}


@lru_cache(maxsize=None)
def words_of_all(table: str) -> frozenset[str]:
    """The union of every supported language's word set `table` ("NEGATIONS": nicht, keine,
    never; "GENITIVE_ARTICLES": des, der, of)."""
    return frozenset(w for code in SUPPORTED for w in getattr(rules(code), table))
