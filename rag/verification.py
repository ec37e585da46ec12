"""Claim-level verification of a generated answer against the passages it cites.

A claim is supported by a passage when a small learned model (rag/claims_train.py, trained on the
XQuAD dev articles, committed under rag/data/claims/) says so from what rag/claim_features.py
measures: the e5 similarity of the claim to the passage's best windows of 1-3 sentences (the same
model as retrieval, so it works across German and English), agreement of names modulo German/
English transliteration (Lawrow = Lavrov, Pjöngjang = Pyongyang), how common a missing name is as
a word (a missing "Court" is a translation, a missing "Dewar" is not), cognates; and by rule when
the window contains all of the claim's numbers and months (similarity cannot tell "40 Prozent"
from "14 Prozent"; the token check can). The previous rule (one similarity threshold and all
checkable tokens present) stays available as `claim_check="similarity"`. See docs/llm.md.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Callable

import json
from pathlib import Path

import numpy as np

from . import claim_features as cf, lang as langs
from .boosted_trees import TreeEnsemble
from .citations import Span
from .lexical import function_words
from .results import RagError

Embed = Callable[[list[str]], np.ndarray]

# --- checkable tokens ------------------------------------------------------------------------
_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,’'](?=\d)\d+)*")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
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


def numbers(text: str) -> set[str]:
    return {canonical_number(m.group(0)) for m in _NUMBER.finditer(text)}


# A decade by its last two digits ("die 90er Jahre", "the '90s"): the evidence states the
# "1990s" of a claim (its number 1990), whichever century is meant.
_DECADE = re.compile(r"(?<![\w.,])['’]?([1-9]0)(?:er|s)\b")


def evidence_numbers(text: str) -> set[str]:
    """The numbers a text states, also in words (zwei, vierten, third) and as decades: what
    a claim's numbers are looked up in. Claims are read by `numbers` only (a claim's "two" is
    too often "both" or "a pair" to be checked)."""
    words = {w.lower() for w in _WORD.findall(text)}
    ordinals = langs.ordinal_words()
    out = numbers(text) | {_NUMBER_WORDS[w] for w in words if w in _NUMBER_WORDS}
    out |= {str(ordinals[w]) for w in words if w in ordinals}
    for m in _DECADE.finditer(text):
        out |= {str(1900 + int(m.group(1))), str(2000 + int(m.group(1)))}
    return out


def months(text: str) -> set[int]:
    return {MONTH_OF[w.lower()] for w in _WORD.findall(text) if w.lower() in MONTH_OF
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
    for m in _WORD.finditer(text):
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
        # The end of a compound: Britain in Großbritannien, California in Südkalifornien.
        if len(key) >= 5 and len(w) > len(key) and any(
                w[i:i + 1] == key[:1] and _prefix_like(key, w[i:]) for i in range(1, len(w) - len(key) + 2)):
            return True
    return False


def _prefix_like(key: str, w: str) -> bool:
    """`w` starts with `key` up to a changed ending or a transliteration difference."""
    return any(SequenceMatcher(None, key, w[:cut]).ratio() >= 0.8
               for cut in (len(key) - 1, len(key), len(key) + 1, len(key) + 2))


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
    folded_words = {fold(w) for w in _WORD.findall(evidence)}
    folded_text = " ".join(fold(w) for w in _WORD.findall(evidence))
    missing += [n for n in dict.fromkeys(names(claim)) if (checkable is None or checkable(n))
                and not _name_found(n, folded_words, folded_text)]
    return Agreement(tuple(missing))


# --- the learned decision --------------------------------------------------------------------
MODEL_DIR = Path(__file__).parent / "data" / "claims"
# The features the model reads (rag/claim_features.py FEATURES less the margin over the other
# passages, which the dev folds did not support; see rag/claims_train.py).
MODEL_FEATURES = tuple(f for f in cf.FEATURES if f not in ("other_max", "margin_max", "margin_mean"))


@dataclass(frozen=True)
class SupportModel:
    trees: TreeEnsemble
    features: tuple[str, ...]
    threshold: float

    def probability(self, row: np.ndarray) -> float:
        x = row[[cf.FEATURES.index(f) for f in self.features]][None, :]
        return float(self.trees.proba(x)[0])


@lru_cache(maxsize=2)
def load_model(folder: Path = MODEL_DIR) -> SupportModel:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        trees = TreeEnsemble.load(folder / "support.npz")
    except (OSError, ValueError, KeyError) as e:
        raise RagError(f"The claim checker's model in '{folder}' cannot be read ({e}); run "
                       "`python -m rag train-claims` or set RAG_CLAIM_CHECK=similarity.") from None
    unknown = [f for f in meta["features"] if f not in cf.FEATURES]
    if unknown:
        raise RagError(f"The claim checker's model in '{folder}' uses features this code does not "
                       f"compute ({', '.join(unknown)}); run `python -m rag train-claims`.")
    return SupportModel(trees, tuple(meta["features"]), float(meta["threshold"]))


@dataclass(frozen=True)
class Evidence:
    span: Span               # the best window, verbatim (score = similarity)
    similarity: float
    agreement: Agreement
    verified: bool
    probability: float | None = None     # the learned check's; None under the similarity rule
    vetoed: bool = False                 # a number or month of the claim is not in the window

    @property
    def score(self) -> float:
        """Support score in [0, 1]: the learned check's probability (the similarity under the
        similarity rule), zero when a number or month (similarity rule: any checkable token)
        disagrees."""
        if self.probability is not None:
            return 0.0 if self.vetoed else round(self.probability, 4)
        return round(max(0.0, self.similarity), 4) if self.agreement.ok else 0.0


@dataclass
class Verifier:
    """Checks claims against passages with one embedding model; window vectors are cached (the
    same passages are checked for every claim of an answer). Thread-safe."""

    embed_queries: Embed
    embed_passages: Embed
    min_similarity: float = 0.80
    check_tokens: bool = True
    # A claim in another language than the passages (an English answer from German articles):
    # e5 similarities across languages run lower, and only names the articles' language uses
    # (`known_name`, e.g. the lexical index's vocabulary) can be checked.
    cross_language: bool = False
    min_similarity_cross: float = 0.80
    known_name: Callable[[str], bool] | None = None
    # "learned" (the model under rag/data/claims) or "similarity" (threshold + all tokens).
    rule: str = "learned"
    language: str = "de"                 # of the claims (the answer's)
    model: SupportModel | None = None    # default: load_model()
    _cache: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self):
        if self.rule not in ("learned", "similarity"):
            raise RagError(f"claim_check={self.rule!r} is not a claim check (choose learned or similarity).")
        if self.rule == "learned" and self.model is None:
            self.model = load_model()

    def _windows(self, text: str) -> cf.PassageWindows:
        with self._lock:
            hit = self._cache.get(text)
        if hit is None:
            hit = cf.passage_windows(text, self.embed_passages)
            with self._lock:
                self._cache[text] = hit
        return hit

    def claim_vector(self, claim: str) -> np.ndarray:
        key = ("claim", claim)
        with self._lock:
            v = self._cache.get(key)
        if v is None:
            v = self.embed_queries([claim])[0]
            with self._lock:
                self._cache[key] = v
        return v

    def check(self, claim: str, passage: str, others: list[str] | tuple[str, ...] = ()) -> Evidence | None:
        """The best window of `passage` for `claim` and whether it supports it; `others` are the
        other passages given with it (a name the claim takes from one of them counts against)."""
        pw = self._windows(passage)
        if not pw.spans:
            return None
        exact = _verbatim(claim, passage)
        if exact is not None:
            return Evidence(exact, 1.0, Agreement(()), True, 1.0 if self.rule == "learned" else None)
        checkable = self.known_name if self.cross_language else None
        if self.rule == "similarity":
            return self._by_similarity(claim, pw, checkable)
        scored = cf.score(claim, self.claim_vector(claim), pw, list(others), checkable,
                          self.claim_vector, self.language)
        span, sim = scored.span, scored.similarity
        veto = bool(cf.vetoed(scored.row)[0])
        p = self.model.probability(scored.row)
        agree = agreement(claim, span.quote, checkable)
        return Evidence(span, sim, agree, p >= self.model.threshold and not veto, p, veto)


    def _by_similarity(self, claim: str, pw: cf.PassageWindows, checkable) -> Evidence:
        """The previous rule: the best window's similarity reaches the threshold and every
        checkable token agrees (no feature row: the model's features are not needed)."""
        sims = pw.vectors @ self.claim_vector(claim)
        best = cf.best_window(pw, sims)
        span, sim = pw.spans[best], float(sims[best])
        agree = agreement(claim, span.quote, checkable) if self.check_tokens else Agreement(())
        threshold = self.min_similarity_cross if self.cross_language else self.min_similarity
        return Evidence(Span(span.start, span.end, span.quote, sim), sim, agree, sim >= threshold and agree.ok)


def _verbatim(claim: str, passage: str) -> Span | None:
    """A claim that quotes the passage word for word (at least 20 characters) is supported by the
    quoted text, whatever the similarity says."""
    from .citations import _QUOTED

    for m in _QUOTED.finditer(claim):
        q = next(g for g in m.groups() if g is not None).strip()
        if len(q) >= 20 and q in passage:
            i = passage.find(q)
            # The words around a quote frame it ("Laut der Quelle heißt es: ..."); only their
            # numbers and months must agree with the passage, not their nouns.
            rest = _QUOTED.sub(" ", claim)
            if agreement(rest, passage, checkable=lambda name: False).ok:
                return Span(i, i + len(q), q, 1.0)
    bare = claim.strip().rstrip(".")
    if len(bare) >= 20 and bare in passage:
        i = passage.find(bare)
        return Span(i, i + len(bare), bare, 1.0)
    return None


# --- an answer, claim by claim ---------------------------------------------------------------
MIN_CLAIM_WORDS = 3


@dataclass(frozen=True)
class CheckedClaim:
    text: str
    cited: tuple[int, ...]       # 1-based passage numbers the model cited
    sources: tuple[int, ...]     # 1-based passage numbers it is tied to after the check (empty: removed)
    status: str                  # kept | repointed | removed | unchecked
    evidence: dict               # passage number -> Evidence, for the passages in `sources`
    score: float


@dataclass(frozen=True)
class VerifiedAnswer:
    text: str                    # markers in passage numbering (1..k), unsupported claims removed
    claims: tuple[CheckedClaim, ...]

    @property
    def supported(self) -> bool:
        return any(c.status in ("kept", "repointed") for c in self.claims)


def _check_claim(text: str, cited: tuple[int, ...], passages: list[str], verifier: Verifier) -> CheckedClaim:
    """Kept with the cited passages that support it; else re-pointed to the passage that supports
    it best; else removed. A claim that cites nothing valid is removed: every statement must
    carry a citation, and an answer without one is replaced as a whole (generation.py)."""
    def check(n: int) -> Evidence | None:
        return verifier.check(text, passages[n - 1], [p for m, p in enumerate(passages, 1) if m != n])

    found = {n: check(n) for n in cited if 1 <= n <= len(passages)}
    if not found:
        return CheckedClaim(text, cited, (), "removed", {}, 0.0)
    good = {n: e for n, e in found.items() if e is not None and e.verified}
    if good:
        return CheckedClaim(text, cited, tuple(good), "kept", good, max(e.score for e in good.values()))
    others = {n: check(n) for n in range(1, len(passages) + 1) if n not in found}
    good = {n: e for n, e in others.items() if e is not None and e.verified}
    if good:
        n = max(good, key=lambda n: good[n].similarity)
        return CheckedClaim(text, cited, (n,), "repointed", {n: good[n]}, good[n].score)
    best = max((e for e in found.values() if e is not None), key=lambda e: e.score, default=None)
    return CheckedClaim(text, cited, (), "removed", {}, best.score if best else 0.0)


def verify_answer(text: str, passages: list[str], verifier: Verifier) -> VerifiedAnswer:
    """Every claim of `text` (markers numbered as the passages, 1..k) checked against what it
    cites; the text rebuilt without the unsupported claims and with re-pointed markers."""
    from .citations import rebuild, split_claims

    sentences = split_claims(text)
    checked, decisions = [], {}
    for i, sent in enumerate(sentences):
        for j, unit in enumerate(sent.units):
            if len(_WORD.findall(unit.text)) < MIN_CLAIM_WORDS and not unit.numbers:
                continue        # "Ja." or a heading: nothing to check, kept as written
            c = _check_claim(unit.text, unit.numbers, passages, verifier)
            checked.append(c)
            if c.status == "removed":
                decisions[(i, j)] = None
            elif c.sources != unit.numbers:
                decisions[(i, j)] = c.sources
    new_text = rebuild(text, sentences, decisions) if decisions else text
    return VerifiedAnswer(new_text, tuple(checked))
