"""Claim-level verification of a generated answer against the passages it cites.

A claim is supported by a passage when a small learned model (rag/claims_train.py, trained on the
XQuAD dev articles, committed under rag/data/claims/) says so from what rag/claim_features.py
measures: the e5 similarity of the claim to the passage's best windows of 1-3 sentences (the same
model as retrieval, so it works across German and English), agreement of names modulo German/
English transliteration (Lawrow = Lavrov, Pjöngjang = Pyongyang), how common a missing name is as
a word (a missing "Court" is a translation, a missing "Dewar" is not), cognates, the claim's
words in the window through the German-English dictionary (a second model decides without it);
and by rule when the window contains all of the claim's numbers and months (similarity cannot
tell "40 Prozent" from "14 Prozent"; the token check can). The previous rule (one similarity
threshold and all checkable tokens present) stays available as `claim_check="similarity"`. See
docs/llm.md.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import json
from pathlib import Path

import numpy as np

from . import claim_features as cf
from .boosted_trees import TreeEnsemble
from .checkable import WORD, Agreement, agreement
from .citations import Span
from .results import RagError

Embed = Callable[[list[str]], np.ndarray]

# --- the learned decision --------------------------------------------------------------------
MODEL_DIR = Path(__file__).parent / "data" / "claims"
# Without the dictionary (RAG_DICTIONARY=none, or not fetched) the model trained without its
# features decides: the one the project had before them.
PLAIN_MODEL_DIR = Path(__file__).parent / "data" / "claims-without-dictionary"
# The features the model reads (rag/claim_features.py FEATURES less the margin over the other
# passages, which the dev folds did not support; see rag/claims_train.py).
MODEL_FEATURES = tuple(f for f in cf.FEATURES if f not in ("other_max", "margin_max", "margin_mean"))
PLAIN_FEATURES = tuple(f for f in MODEL_FEATURES if f not in cf.DICTIONARY_FEATURES)


@dataclass(frozen=True)
class SupportModel:
    trees: TreeEnsemble
    features: tuple[str, ...]
    threshold: float
    meta: dict = field(default_factory=dict, compare=False)   # meta.json as train-claims wrote it

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """Per row of claim_features.FEATURES: the probability that the claim is supported."""
        return self.trees.proba(rows[:, [cf.FEATURES.index(f) for f in self.features]])

    def probability(self, row: np.ndarray) -> float:
        return float(self.probabilities(row[None, :])[0])


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
    return SupportModel(trees, tuple(meta["features"]), float(meta["threshold"]), meta)


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
    # The German-English dictionary (rag/glossary.py): the learned check reads the claim's words
    # in the window through it; without it the model trained without those features decides.
    glossary: object | None = None
    model: SupportModel | None = None    # default: load_model() of the folder that fits
    _cache: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self):
        if self.rule not in ("learned", "similarity"):
            raise RagError(f"claim_check={self.rule!r} is not a claim check (choose learned or similarity).")
        if self.rule == "learned" and self.model is None:
            self.model = load_model(MODEL_DIR if self.glossary is not None else PLAIN_MODEL_DIR)
        if self.rule == "learned" and self.glossary is None and set(self.model.features) & set(cf.DICTIONARY_FEATURES):
            raise RagError("This claim checker's model reads the German-English dictionary; give the "
                           "Verifier a glossary or use the model in rag/data/claims-without-dictionary.")

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
                          self.claim_vector, self.language, glossary=self.glossary)
        span, sim = scored.span, scored.similarity
        veto = bool(cf.vetoed(scored.row)[0])
        p = self.model.probability(scored.row)
        agree = Agreement(scored.tokens.missing)    # computed with the features, same checkable
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
            if len(WORD.findall(unit.text)) < MIN_CLAIM_WORDS and not unit.numbers:
                continue        # "Ja." or a heading: nothing to check, kept as written
            c = _check_claim(unit.text, unit.numbers, passages, verifier)
            checked.append(c)
            if c.status == "removed":
                decisions[(i, j)] = None
            elif c.sources != unit.numbers:
                decisions[(i, j)] = c.sources
    new_text = rebuild(text, sentences, decisions) if decisions else text
    return VerifiedAnswer(new_text, tuple(checked))
