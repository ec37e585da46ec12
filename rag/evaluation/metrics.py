"""Pure metric functions: retrieval ranks, answer matching with name-spelling equivalences, token
F1, citations, abstention, latency percentiles. No models, no I/O apart from the names table."""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

NAMES_FILE = Path(__file__).parent / "names.tsv"


# --- retrieval ----------------------------------------------------------------------------------
def distinct(ids: list[str]) -> list[str]:
    """Document ids in first-seen order: several passages of one document count once, at the
    rank of its best passage."""
    return list(dict.fromkeys(ids))


def first_rank(ranked_docs: list[str], relevant: set[str] | str) -> int | None:
    """1-based rank of the first relevant document among distinct documents, or None."""
    relevant = {relevant} if isinstance(relevant, str) else relevant
    for i, doc in enumerate(distinct(ranked_docs), 1):
        if doc in relevant:
            return i
    return None


def recall_at(ranks: list[int | None], k: int) -> float:
    """Share of queries whose relevant document is in the top k (one relevant document each)."""
    if not ranks:
        return 0.0
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mrr(ranks: list[int | None], cutoff: int = 10) -> float:
    if not ranks:
        return 0.0
    return sum(1.0 / r for r in ranks if r is not None and r <= cutoff) / len(ranks)


def ndcg_at(ranks: list[int | None], k: int = 10) -> float:
    """With a single relevant document the ideal DCG is 1, so nDCG is 1/log2(rank+1)."""
    if not ranks:
        return 0.0
    return sum(1.0 / math.log2(r + 1) for r in ranks if r is not None and r <= k) / len(ranks)


def retrieval_summary(ranks: list[int | None], ks: tuple[int, ...] = (1, 5, 10)) -> dict:
    out = {f"R@{k}": recall_at(ranks, k) for k in ks}
    out["MRR@10"] = mrr(ranks, 10)
    out["nDCG@10"] = ndcg_at(ranks, 10)
    out["n"] = len(ranks)
    return out


def recall_curve(ranks: list[int | None], max_k: int = 10) -> list[float]:
    return [recall_at(ranks, k) for k in range(1, max_k + 1)]


# --- latency ------------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), without numpy."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * p / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_summary(ms: list[float]) -> dict:
    if not ms:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "mean_ms": None, "max_ms": None}
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
            "mean_ms": round(sum(ms) / len(ms), 1), "max_ms": round(max(ms), 1)}


# --- text normalisation -------------------------------------------------------------------------
@dataclass(frozen=True)
class Equivalences:
    """Spelling variants mapped to one canonical token sequence (Peskov -> peskow)."""

    table: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()   # (variant, canonical)
    longest: int = 1

    def apply(self, tokens: list[str]) -> list[str]:
        if not self.table:
            return tokens
        index = dict(self.table)
        out, i = [], 0
        while i < len(tokens):
            for n in range(min(self.longest, len(tokens) - i), 0, -1):
                canon = index.get(tuple(tokens[i:i + n]))
                if canon is not None:
                    out.extend(canon)
                    i += n
                    break
            else:
                out.append(tokens[i])
                i += 1
        return out


def parse_equivalences(lines: list[str]) -> Equivalences:
    """One group a line, tab-separated, first spelling canonical; '#' starts a comment line."""
    table: dict[tuple[str, ...], tuple[str, ...]] = {}
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        group = [tuple(basic_tokens(v)) for v in line.split("\t") if v.strip()]
        if len(group) < 2:
            continue
        canon = group[0]
        for variant in group[1:]:
            if variant and variant != canon:
                table[variant] = canon
    longest = max((len(v) for v in table), default=1)
    return Equivalences(tuple(table.items()), longest)


@lru_cache(maxsize=1)
def default_equivalences() -> Equivalences:
    return parse_equivalences(NAMES_FILE.read_text(encoding="utf-8").splitlines())


def fold(text: str) -> str:
    """Case and diacritics away (Wŏnsan = Wonsan, Pjöngjang = Pjongjang), ß = ss."""
    text = unicodedata.normalize("NFKD", text.casefold().replace("ß", "ss"))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


_DIGIT_SEP = re.compile(r"(?<=\d)[.,'’](?=\d{3}\b)")
_TOKEN = re.compile(r"[^\W_]+")


def basic_tokens(text: str) -> list[str]:
    """Folded word tokens; hyphens and apostrophes split words (Son-hui = Son hui); thousands
    separators vanish so that 6.500 = 6,500 = 6500."""
    text = _DIGIT_SEP.sub("", fold(text))
    return _TOKEN.findall(text)


def tokens(text: str, eq: Equivalences | None = None) -> list[str]:
    return (eq or default_equivalences()).apply(basic_tokens(text))


def contains_answer(answer: str, golds: list[str], eq: Equivalences | None = None) -> bool:
    """Whether any gold answer appears as a whole-token sequence in the answer text."""
    hay = tokens(answer, eq)
    for gold in golds:
        needle = tokens(gold, eq)
        if needle and any(hay[i:i + len(needle)] == needle for i in range(len(hay) - len(needle) + 1)):
            return True
    return False


_ARTICLES = {
    "en": {"a", "an", "the"},
    "de": {"der", "die", "das", "des", "dem", "den", "ein", "eine", "einer", "eines", "einem", "einen"},
}


def token_f1(prediction: str, golds: list[str], lang: str = "en", eq: Equivalences | None = None) -> float:
    """SQuAD-style token F1 (articles dropped, as MLQA does for German), best over the golds."""
    drop = _ARTICLES.get(lang, set())
    pred = [t for t in tokens(prediction, eq) if t not in drop]
    best = 0.0
    for gold in golds:
        ref = [t for t in tokens(gold, eq) if t not in drop]
        common = sum((Counter(pred) & Counter(ref)).values())
        if not pred or not ref or not common:
            continue
        p, r = common / len(pred), common / len(ref)
        best = max(best, 2 * p * r / (p + r))
    return best


_MARKER = re.compile(r"\s*\[\d+(?:\s*[,;–-]\s*\d+)*\]")
_QUOTED = re.compile(r"„[^“”\"]*[“”\"]|“[^”]*”|\"[^\"]*\"|«[^»]*»|»[^«]*«|‚[^‘’]*[‘’]")


def strip_markers(text: str) -> str:
    return _MARKER.sub("", text)


def own_words(text: str) -> str:
    """The answer minus verbatim quotes and [n] markers: the part whose language the assistant
    chose (quotes stay in the articles' German)."""
    return " ".join(_QUOTED.sub(" ", strip_markers(text)).split())


def without_word_for_word(text: str) -> str:
    """`text` without the word-for-word English after its German quotes (rag/reader.py
    `_word_for_word`): the answer as it read before those were added, for the report to show what
    they add to *contains gold*."""
    from .. import lang as langs

    return langs.word_for_word_pattern().sub("", text)


_SENTENCE_END = re.compile(r"[.!?]\s+(?=[A-ZÄÖÜ„“\"])")
_NOT_AN_END = re.compile(r"(?:^|[\s(])(?:\d{1,2}|[A-Za-z]|Dr|Prof|Nr|St|Mr|Mrs|Ms|bzw|ca|vgl|z\.B)$")


def first_sentence(text: str) -> str:
    """Where both the extractive short answer and an LLM's answer put the answer itself. A period
    after a day number or an abbreviation ("am 3. Oktober", "Dr. Merz") does not end it; a line
    break does (the extractive short answer is a paragraph of its own: "24.\n\nLaut [1]: ...")."""
    text = strip_markers(text).strip().split("\n", 1)[0].strip()
    for m in _SENTENCE_END.finditer(text):
        if not _NOT_AN_END.search(text[:m.start()]):
            return text[:m.start() + 1]
    return text


# --- citations and abstention -------------------------------------------------------------------
def citation_precision(cited: list[str], gold: list[str], match=None) -> float | None:
    """Share of distinct cited sources that are gold sources; None when nothing was cited."""
    match = match or (lambda c, g: c == g)
    cited = distinct(cited)
    if not cited:
        return None
    return sum(1 for c in cited if any(match(c, g) for g in gold)) / len(cited)


def citation_recall(cited: list[str], gold: list[str], need_all: bool = False, match=None) -> float:
    """With need_all every gold source must be cited; otherwise citing one of them suffices."""
    match = match or (lambda c, g: c == g)
    if not gold:
        return 0.0
    found = [g for g in gold if any(match(c, g) for c in cited)]
    if need_all:
        return len(found) / len(gold)
    return 1.0 if found else 0.0


def abstention_scores(expected: list[bool], predicted: list[bool]) -> dict:
    """Abstaining is the positive class: precision = abstentions that were right, recall =
    unanswerable questions the assistant declined. None where undefined."""
    tp = sum(1 for e, p in zip(expected, predicted) if e and p)
    n_pred, n_exp = sum(predicted), sum(expected)
    precision = tp / n_pred if n_pred else None
    recall = tp / n_exp if n_exp else None
    f1 = (2 * precision * recall / (precision + recall)) if precision and recall else (
        0.0 if precision is not None and recall is not None else None)
    return {"precision": precision, "recall": recall, "f1": f1, "abstained": n_pred,
            "unanswerable": n_exp, "correct_abstentions": tp}


def mean(values: list[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None
