"""What the claim checker measures about one claim against one passage, among the passages given
with it (rag/verification.py decides with these; rag/claims_train.py learns how).

One similarity threshold cannot separate supported from unsupported claims across languages: an
English claim's e5 similarity to the German sentence it translates overlaps with its similarity
to an unrelated sentence on the same topic. Measured together they separate better:

* similarity to the best window of 1, 2 and 3 consecutive sentences;
* the margin over the other passages given with it: a supported claim is closer to its passage
  than to the rest of the (same-topic) retrieved text, an invented one is not;
* agreement of numbers, months and names (transliteration-insensitive, see
  checkable.names_lacking);
* the share of the claim's content words that have a cognate in the window (character
  trigrams of the folded words: Physik/physics, Kommission/Commission);
* how far the best sentence stands out of its passage (peak, gap);
* with the German-English dictionary (rag/glossary.py): the share of the claim's content words
  whose stem the window has, for an English claim also as the English of the window's German
  words ("coffee" in "Kaffee"); and swapped names: a name of the claim the window lacks, while
  the window has a name (a capitalised word the dictionary does not know) the claim lacks
  ("Davis" in the claim, "Grammy" in the window); a translation leaves no name of the window
  behind (Weltkrieg is a dictionary word), and a claim that leaves out some of the window's
  names (as answers do) but has none of its own that the window lacks is no swap.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .checkable import agreement, fold, months, names, names_lacking, numbers
from .citations import Span
from .lexical import function_words, tokenize
from .text import split_sentences
from .word_frequency import COMMON_RARITY, rarity

MAX_WINDOW = 3          # sentences per evidence window
DUPLICATE_COSINE = 0.97  # another passage's window this close to the evidence is the same text
FEATURES = ("sim1", "sim2", "sim3", "other_max", "margin_max", "margin_mean",
            "numbers", "numbers_missing", "numbers_missing_passage", "months", "months_missing",
            "names", "names_missing", "names_all", "names_all_missing", "names_elsewhere",
            "drop_gain", "missing_rarity", "missing_common", "cognate_mean", "cognate_share", "words", "peak", "gap",
            "gloss_share", "swapped_names")
# The features that need the dictionary (NaN without it; a model without them is kept for that).
DICTIONARY_FEATURES = ("gloss_share", "swapped_names")


# --- windows ---------------------------------------------------------------------------------
def sized_windows(text: str, size: int = MAX_WINDOW) -> list[tuple[Span, int]]:
    sentences = split_sentences(text)
    out = []
    for i in range(len(sentences)):
        for j in range(i, min(i + size, len(sentences))):
            s, e = sentences[i].start, sentences[j].end
            out.append((Span(s, e, text[s:e], 0.0), j - i + 1))
    return out


@dataclass(frozen=True)
class PassageWindows:
    """A passage's windows and their e5 passage vectors (computed once per passage)."""
    text: str
    spans: tuple[Span, ...]
    sizes: np.ndarray        # sentences per window
    vectors: np.ndarray      # one row per window, L2-normalised


def passage_windows(text: str, embed_passages: Callable[[list[str]], np.ndarray]) -> PassageWindows:
    pairs = sized_windows(text)
    spans = tuple(s for s, _ in pairs)
    vecs = embed_passages([s.quote for s in spans]) if spans else np.zeros((0, 1), np.float32)
    return PassageWindows(text, spans, np.array([n for _, n in pairs], dtype=np.int64), vecs)


# --- transliteration-insensitive words -------------------------------------------------------
def trigrams(key: str) -> frozenset[str]:
    return frozenset(key[i:i + 3] for i in range(max(1, len(key) - 2)))


def dice(a: frozenset[str], b: frozenset[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


# --- the features ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Tokens:
    """Checkable-token counts of a claim against a window (and the whole passage)."""
    numbers: int
    numbers_missing: int
    numbers_missing_passage: int
    months: int
    months_missing: int
    names: int
    names_missing: int
    names_all: int
    names_all_missing: int
    names_elsewhere: int     # missing in the window, found in the passage or another given one
    missing_names: tuple[str, ...] = ()   # every name of the claim the window lacks
    missing: tuple[str, ...] = ()         # the window's Agreement: checked tokens it lacks


def token_counts(claim: str, window: str, passage: str, checkable: Callable[[str], bool] | None,
                 context: str = "") -> Tokens:
    in_window = agreement(claim, window, checkable)
    missing = set(in_window.missing)
    nums = numbers(claim)
    mons = months(claim)
    claim_names = list(dict.fromkeys(names(claim)))
    checked = [n for n in claim_names if checkable is None or checkable(n)]
    all_missing = agreement(claim, window, None).missing
    in_passage = agreement(claim, passage, lambda n: False).missing
    # A name the claim takes from the wrong place: mis-attribution, not a translation gap.
    around = set(agreement(claim, passage + "\n" + context, None).missing)
    elsewhere = sum(n not in around for n in claim_names if n in all_missing)
    return Tokens(len(nums), sum(n in missing for n in nums), sum(n in in_passage for n in nums),
                  len(mons), sum(f"month {m}" in missing for m in mons),
                  len(checked), sum(n in missing for n in checked),
                  len(claim_names), sum(n in all_missing for n in claim_names), elsewhere,
                  tuple(n for n in claim_names if n in all_missing), in_window.missing)


_WORD = re.compile(r"[^\W\d_]{4,}")


def cognates(claim: str, window: str) -> tuple[float, float]:
    """(mean best trigram Dice of the claim's content words against the window's words, share of
    them with one >= 0.5): lexical evidence that survives translation between related words."""
    stop = function_words()
    words = [fold(w) for w in _WORD.findall(claim) if w.lower() not in stop]
    if not words:
        return math.nan, math.nan
    grams = [trigrams(fold(w)) for w in set(_WORD.findall(window))]
    best = [max((dice(trigrams(w), g) for g in grams), default=0.0) for w in words]
    return float(np.mean(best)), float(np.mean([b >= 0.5 for b in best]))


_CONTENT = re.compile(r"[^\W\d_]{3,}")


def gloss_share(claim: str, window: str, claim_lang: str, glossary) -> float:
    """The share of the claim's content words whose stem the window has: as the window's own
    words, and for an English claim also as their English (`glossary`, rag/glossary.py). An
    English claim that translates the window shares most of its words with the window's English;
    one on the same topic that the window does not state shares few (dev articles, supported
    0.58, unsupported 0.08)."""
    stop = function_words()
    stems = [tokenize(w, claim_lang) for w in _CONTENT.findall(claim) if w.lower() not in stop]
    stems = [st for st in stems if st]
    if not stems:
        return math.nan
    have: set[str] = set()
    for w in _CONTENT.findall(window):
        for lang in {claim_lang, "de"}:
            have.update(tokenize(w, lang))
        if claim_lang == "en":
            have.update(glossary.english_stems(w))
    return float(np.mean([any(s in have for s in st) for st in stems]))


def swapped_names(claim: str, window: str, glossary, claim_missing: int) -> float:
    """How many names were swapped at most: the fewer of the claim's names the window lacks
    (`claim_missing`, Tokens.names_all_missing) and the window's names the claim lacks (spelled
    or transliterated). A name of the window is a capitalised word, not first in its sentence,
    that the dictionary does not know (German nouns are capitalised too). Leaving names out, as
    an answer does ("Lawrow" for "Außenminister Sergei Lawrow"), is not a swap: measured only
    one way, it made a faithful short claim look wrong."""
    if not claim_missing:
        return 0.0
    lacking = names_lacking([n for n in dict.fromkeys(names(window)) if not glossary.knows(n)], claim)
    return float(min(claim_missing, len(lacking)))


def masked(claim: str, window: str, missing_names: tuple[str, ...] | None = None) -> str | None:
    """The claim without the names the window lacks (None when it lacks none; `missing_names`:
    those names when already known, as Tokens.missing_names). If the claim is closer to the
    window without them, they were wrong (a swapped name); if it is farther, they carried
    meaning the window expresses otherwise (Court for Gerichtshof, Great for Große)."""
    missing = list(missing_names) if missing_names is not None else [
        n for n in agreement(claim, window, None).missing if not n[:1].isdigit() and not n.startswith("month ")]
    if not missing:
        return None
    out = claim
    for n in missing:
        out = re.sub(rf"(?<!\w){re.escape(n)}(?:['’]s)?(?!\w)", "", out)
    return re.sub(r"\s+", " ", out).strip()


def _peak(single: np.ndarray) -> tuple[float, float]:
    """How far the best sentence stands out of its passage: over the passage's mean, and over the
    second best. A claim on the passage's topic that it does not state is close to many sentences
    at once; one it states is close to one."""
    if len(single) < 2:
        return math.nan, math.nan
    top = np.sort(single)[::-1]
    return float(top[0] - single.mean()), float(top[0] - top[1])


def _best(sims: np.ndarray, sizes: np.ndarray, size: int) -> float:
    mask = sizes <= size
    return float(sims[mask].max()) if mask.any() else math.nan


def background(claim_vec: np.ndarray, evidence_vec: np.ndarray, others: list[PassageWindows]) -> list[float]:
    """The claim's best similarity (windows of up to 2 sentences) in each other passage, leaving
    out windows that repeat the evidence (overlapping chunks, a duplicated article): a fact
    stated twice must not count against itself."""
    out = []
    for p in others:
        if not len(p.spans):
            continue
        keep = (p.sizes <= 2) & (p.vectors @ evidence_vec < DUPLICATE_COSINE)
        if keep.any():
            out.append(float((p.vectors[keep] @ claim_vec).max()))
    return out


def vetoed(rows: np.ndarray) -> np.ndarray:
    """Per feature row (FEATURES order): a number or month of the claim is missing from its
    evidence. Those tokens are exact, so such a claim is unsupported whatever a model says."""
    rows = np.atleast_2d(rows)
    return (rows[:, FEATURES.index("numbers_missing")] > 0) | (rows[:, FEATURES.index("months_missing")] > 0)


def best_window(passage: PassageWindows, sims: np.ndarray) -> int:
    """The index of the window of at most 2 sentences most similar to the claim (`sims`: the
    claim's similarity to every window): the evidence a claim is checked against."""
    return int(np.argmax(np.where(passage.sizes <= 2, sims, -np.inf)))


def _glossed(claim: str, window: str, claim_lang: str, glossary, claim_missing: int) -> tuple[float, float]:
    if glossary is None:
        return math.nan, math.nan
    return (gloss_share(claim, window, claim_lang, glossary),
            swapped_names(claim, window, glossary, claim_missing))


@dataclass(frozen=True)
class Scored:
    """One claim against one passage: the evidence window and the feature row."""
    span: Span                   # best window of up to 2 sentences (score = its similarity)
    similarity: float
    row: np.ndarray              # in FEATURES order
    tokens: Tokens


def score(claim: str, claim_vec: np.ndarray, passage: PassageWindows, others: list[str],
          checkable: Callable[[str], bool] | None, vector_of: Callable[[str], np.ndarray],
          claim_lang: str = "de", others_windows: list[PassageWindows] | None = None,
          glossary=None) -> Scored | None:
    """`others`: the texts of the other passages given with this one; `vector_of(text)`: the e5
    query vector of a text (the claim without its missing names); `others_windows`: their
    windows, only for the margin features (NaN without them; the model does not use them);
    `glossary`: the dictionary (rag/glossary.py), for DICTIONARY_FEATURES (NaN without it)."""
    if not len(passage.spans):
        return None
    sims = passage.vectors @ claim_vec
    best = best_window(passage, sims)
    span = passage.spans[best]
    sim2 = float(sims[best])
    rest = background(claim_vec, passage.vectors[best], others_windows) if others_windows else []
    other_max = max(rest) if rest else math.nan
    other_mean = float(np.mean(rest)) if rest else math.nan
    t = token_counts(claim, span.quote, passage.text, checkable, "\n".join(others))
    cog_mean, cog_share = cognates(claim, span.quote)
    without = masked(claim, span.quote, t.missing_names)
    gain = float(vector_of(without) @ passage.vectors[best]) - sim2 if without else math.nan
    rare = [rarity(n, claim_lang) for n in t.missing_names]
    row = np.array([_best(sims, passage.sizes, 1), sim2, _best(sims, passage.sizes, 3), other_max,
                    sim2 - other_max, sim2 - other_mean, t.numbers, t.numbers_missing,
                    t.numbers_missing_passage, t.months, t.months_missing, t.names, t.names_missing,
                    t.names_all, t.names_all_missing, t.names_elsewhere, gain,
                    max(rare, default=math.nan), sum(r <= COMMON_RARITY for r in rare), cog_mean, cog_share,
                    len(claim.split()), *_peak(sims[passage.sizes == 1]),
                    *_glossed(claim, span.quote, claim_lang, glossary, t.names_all_missing)],
                   dtype=np.float64)
    return Scored(Span(span.start, span.end, span.quote, sim2), sim2, row, t)
