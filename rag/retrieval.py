"""Hybrid retrieval: dense (Chroma) and BM25, fused with a weight that depends on the question's
language."""
from __future__ import annotations

import json

import numpy as np

from .embedding import Embedder
from .fusion import lexical_weight, rrf
from .results import Passage, RagError
from .settings import Settings
from .store import ChunkStore

MODES = ("hybrid", "dense", "lexical")


def _matches(meta: dict, where: dict | None) -> bool:
    """Evaluate the small subset of Chroma filters we build (equality, $ne, $gte/$lte, $in, $and)."""
    if not where:
        return True
    if "$and" in where:
        return all(_matches(meta, w) for w in where["$and"])
    for key, cond in where.items():
        value = meta.get(key)
        if isinstance(cond, dict):
            for op, ref in cond.items():
                if op == "$eq" and value != ref or op == "$gte" and not (value is not None and value >= ref) \
                        or op == "$lte" and not (value is not None and value <= ref) \
                        or op == "$in" and value not in ref or op == "$ne" and value == ref:
                    return False
        elif value != cond:
            return False
    return True


def _date_number(value: str, what: str) -> int:
    import datetime

    try:
        return int(datetime.date.fromisoformat(value.strip()).strftime("%Y%m%d"))
    except ValueError:
        raise RagError(f"The {what} date '{value}' is not a date like 2024-05-31.") from None


def build_filter(outlet: str = "", date_from: str = "", date_to: str = "") -> dict | None:
    """Chroma `where` for the optional outlet and date range (dates as YYYY-MM-DD). A date range
    keeps only articles whose date is known and inside it."""
    parts = []
    if outlet:
        parts.append({"outlet": {"$eq": outlet}})
    if date_from:
        parts.append({"date_num": {"$gte": _date_number(date_from, "start")}})
    if date_to:
        parts.append({"date_num": {"$lte": _date_number(date_to, "end")}})
        if not date_from:
            # An unknown date is stored as 0, which is before any end date: exclude it explicitly.
            parts.append({"date_num": {"$gte": 1}})
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


class Retriever:
    def __init__(self, store: ChunkStore, embedder: Embedder, settings: Settings):
        self.store, self.embedder, self.settings = store, embedder, settings

    def search(self, question: str, lang: str, k: int, mode: str = "hybrid",
               where: dict | None = None, query_vector: np.ndarray | None = None) -> list[Passage]:
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r} (one of {', '.join(MODES)})")
        s = self.settings
        n = max(s.candidates, k)
        qv = self.embedder.queries([question])[0] if query_vector is None else query_vector
        dense = self.store.dense(qv, n, where) if mode != "lexical" else []
        lexical = []
        if mode != "dense":
            # Over-fetch when filtering: BM25 does not know the filter.
            lexical = self.store.lexical_search(question, n * (4 if where else 1))
        if mode == "dense":
            fused = [(cid, sc) for cid, sc in dense]
        elif mode == "lexical":
            fused = lexical
        else:
            w = lexical_weight(lang, s.corpus_language, s.lexical_weight_same_language,
                               s.lexical_weight_cross_language)
            fused = rrf([([c for c, _ in dense], 1.0), ([c for c, _ in lexical], w)], k=s.rrf_k)
        ids = [cid for cid, _ in fused]
        items = self.store.get(ids[: n * 4 if where else k * 2], with_embeddings=True)
        dense_map, lex_map = dict(dense), dict(lexical)
        out: list[Passage] = []
        for cid, score in fused:
            item = items.get(cid)
            if item is None or not _matches(item["meta"], where):
                continue
            m = item["meta"]
            out.append(Passage(
                chunk_id=cid, text=item["text"], source=m["source"], title=m.get("title", ""),
                outlet=m.get("outlet", ""), date=m.get("date", ""), url=m.get("url", ""),
                start=int(m.get("start", 0)), end=int(m.get("end", 0)), score=float(score),
                dense_score=float(dense_map[cid]) if cid in dense_map else float(item["embedding"] @ qv),
                lexical_score=lex_map.get(cid), segments=json.loads(m.get("segs", "[]"))))
            if len(out) >= k:
                break
        return out
