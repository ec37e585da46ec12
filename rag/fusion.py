"""Combining the dense and lexical rankings (weighted reciprocal rank fusion)."""
from __future__ import annotations


def rrf(rankings: list[tuple[list[str], float]], k: int = 60) -> list[tuple[str, float]]:
    """Weighted reciprocal rank fusion.

    `rankings` holds (ids best first, weight) per retriever. A retriever with weight 0 adds nothing,
    so the fused order then equals the other retriever's order exactly. Ties keep the order of the
    first ranking that has the id."""
    scores: dict[str, float] = {}
    first_seen: dict[str, tuple[int, int]] = {}
    for r, (ids, weight) in enumerate(rankings):
        for rank, doc_id in enumerate(ids):
            first_seen.setdefault(doc_id, (r, rank))
            if weight > 0:
                scores[doc_id] = scores.get(doc_id, 0.0) + weight / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: (-kv[1], first_seen[kv[0]]))


def lexical_weight(question_lang: str, corpus_lang: str, same: float, cross: float) -> float:
    """BM25 matches words, so it is only trusted when the question shares the articles' language."""
    return same if question_lang == corpus_lang else cross
