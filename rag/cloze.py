"""Synthetic questions for the span head: cloze questions made from news sentences.

XQuAD's dev articles give the span head about 1,200 questions; nothing else with German answers
can be had here. As in unsupervised QA (Lewis et al. 2019, "cloze translation" by rules), a
sentence of a news article becomes a question by taking out one phrase of a kind a question asks
for (a date, a number with its unit, a place after a preposition, a person's name) and putting
the question word in front, the sentence's word order kept: "Der Außenminister wurde am Samstag
in Wonsan empfangen, teilte das Ministerium mit." -> "Wo Der Außenminister wurde am Samstag
empfangen, teilte das Ministerium mit?", answer "Wonsan". Some of the remaining words are dropped,
so the head cannot learn that the answer is simply every word the question lacks. With `english`,
each question also gets an English twin glossed word by word through the dictionary
(rag/glossary.py `Glossary.gloss`, which keeps names it recognises); train-reader does not use
them: the gloss can still turn a name into a noun ("Hecht" -> "pike"). Deterministic for a seed.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable

from . import lang as langs
from .spans import function_words, whole_date, with_unit, word_kinds
from .text import Token, split_sentences, tokens

MIN_WORDS, MAX_WORDS = 8, 35      # sentences shorter say too little, longer ones rarely fit a question
MAX_NAME_WORDS = 4
DROP = 0.1                        # share of the remaining words left out of the question
# Prepositions that put a place before it, and the question word each asks with.
_PLACE_WORDS = {"in": "Wo", "im": "Wo", "bei": "Wo", "nach": "Wohin", "aus": "Woher"}
_QUESTION_WORD = {"de": {"when": "Wann", "count": "Wie viele", "who": "Wer", "where": "Wo"},
                  "en": {"when": "When", "count": "How many", "who": "Who", "where": "Where"}}
_ENGLISH_PLACE = {"Wo": "Where", "Wohin": "Where", "Woher": "Where from"}


@dataclass(frozen=True)
class ClozeQuestion:
    question: str
    lang: str           # of the question; the sentence is always German
    sentence: str
    start: int          # the answer's characters in `sentence`
    end: int
    kind: str


def _flags(toks: list[Token]) -> list[dict[str, bool]]:
    """word_kinds of each token (empty for punctuation), made once per sentence."""
    return [word_kinds(t.text) if t.is_word else {} for t in toks]


def _is_name(word: str, glossary) -> bool:
    """A word the dictionary lacks, or whose English is a name too ("Deutschland" -> "Germany");
    not a common noun ("Wahrheit" -> "truth", "Lastwagen" -> "truck")."""
    english = glossary.english(word) if glossary is not None else None
    return english is None or english[:1].isupper()


def _name_end(toks: list[Token], flags: list[dict[str, bool]], i: int, glossary=None) -> int:
    """The end of the run of names that starts at token i (capitalised words that are not job
    titles, months, weekdays, function words or common nouns)."""
    stop = function_words()
    j = i
    while j < len(toks) and j - i < MAX_NAME_WORDS and toks[j].is_word:
        f = flags[j]
        if not f["cap"] or f["role"] or f["month"] or f["weekday"] or f["digit"] or toks[j].text.lower() in stop \
                or not _is_name(toks[j].text, glossary):
            break
        j += 1
    return j


def answer_phrases(toks: list[Token], glossary=None) -> list[tuple[str, int, int, int]]:
    """(kind, first token, end token, token of the preposition to drop with it or -1) of each
    phrase a question could ask for. The sentence's first word is never a name (German starts a
    sentence capitalised); a person is two or more names ("Winfried Hermann") or a name after a
    job title; a place is a name right after "in", "nach", "aus" ("in Oakland")."""
    out = []
    flags = _flags(toks)
    k = next((n for n, t in enumerate(toks) if t.is_word), len(toks)) + 1
    while k < len(toks):
        t, f = toks[k], flags[k]
        prev = toks[k - 1].text.lower() if toks[k - 1].is_word else ""
        if f.get("year") or f.get("month") or f.get("weekday"):
            i, j = whole_date(toks, k, k + 1)
            drop = i - 1 if prev in langs.rules("de").PREPOSITIONS["when"] else -1
            out.append(("when", i, j, drop))
            k = j
        elif f.get("number") and f.get("digit") and t.text.count(".") + t.text.count(":") == 0:
            i, j = with_unit(toks, k, k + 1)
            out.append(("count", i, j, -1))
            k = j
        elif f.get("cap"):
            j = _name_end(toks, flags, k, glossary)
            if j == k:
                k += 1
                continue
            if prev in _PLACE_WORDS:
                out.append(("where", k, j, k - 1))
            elif j - k >= 2 or flags[k - 1].get("role"):
                out.append(("who", k, j, -1))
            k = j
        else:
            k += 1
    return out


def _question_words(toks: list[Token], i: int, j: int, drop: int, rng: random.Random) -> list[str]:
    """The sentence's words without the answer, its preposition and the final stop, some left out."""
    keep = [t.text for n, t in enumerate(toks) if not (i <= n < j or n == drop)]
    while keep and not any(ch.isalnum() for ch in keep[-1]):
        keep.pop()
    return [w for w in keep if not w.isalnum() or rng.random() >= DROP]


def _join(words: list[str]) -> str:
    text = ""
    for w in words:
        text += w if (not text or w in ",.;:!?)“\"" or text.endswith(("(", "„"))) else " " + w
    return text


def questions(sentence: str, rng: random.Random, glossary=None, english: bool = False) -> list[ClozeQuestion]:
    """At most one cloze question from `sentence` (the phrase chosen at random), with its English
    twin when `english` (glossed by `glossary`)."""
    toks = tokens(sentence)
    n_words = sum(t.is_word for t in toks)
    if not MIN_WORDS <= n_words <= MAX_WORDS:
        return []
    phrases = answer_phrases(toks, glossary)
    if not phrases:
        return []
    kind, i, j, drop = rng.choice(phrases)
    rest = _question_words(toks, i, j, drop, rng)
    if sum(1 for w in rest if w.isalnum()) < 4:
        return []
    de_word = _PLACE_WORDS.get(toks[drop].text.lower(), "Wo") if kind == "where" else _QUESTION_WORD["de"][kind]
    start, end = toks[i].start, toks[j - 1].end
    text = _join(rest)
    out = [ClozeQuestion(f"{de_word} {text}?", "de", sentence, start, end, kind)]
    if english and glossary is not None:
        en_word = _ENGLISH_PLACE[de_word] if kind == "where" else _QUESTION_WORD["en"][kind]
        out.append(ClozeQuestion(f"{en_word} {glossary.gloss(text, text)}?", "en", sentence, start, end, kind))
    return out


def from_articles(texts: Iterable[str], limit: int, seed: int = 0, glossary=None,
                  english: bool = False) -> list[ClozeQuestion]:
    """Up to `limit` cloze questions (German, and their English twins with `english`), from the
    articles' sentences in order, at most one per sentence."""
    rng = random.Random(seed)
    out: list[ClozeQuestion] = []
    for text in texts:
        for s in split_sentences(text):
            out += questions(s.text, rng, glossary, english)
            if len(out) >= limit:
                return out[:limit]
    return out
