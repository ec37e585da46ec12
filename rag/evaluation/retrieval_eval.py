"""Retrieval on XQuAD: which retriever puts the question's paragraph near the top.

Every retriever gets the same budget of k passages per question; passages are mapped back to
their paragraph (file stem) and several passages of one paragraph count once, at the rank of the
first. A German and an English question with the same id share the same relevant paragraph."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import metrics
from .common import progress_bar
from .data import XQuestion

Search = Callable[[str], list[str]]   # question -> document ids, best first


@dataclass
class RetrievalRun:
    retriever: str          # "bm25" | "dense" | "hybrid" | "llamaindex-default" | "llamaindex-k10"
    lang: str
    corpus: str
    k: int                  # passages the retriever returned per question
    ranks: list[int | None] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    top: list[str] = field(default_factory=list)   # best document per question, for error analysis

    def summary(self) -> dict:
        ks = tuple(k for k in (1, 2, 5, 10) if k <= self.k)
        out = metrics.retrieval_summary(self.ranks, ks)
        out.update(retriever=self.retriever, lang=self.lang, corpus=self.corpus, k=self.k,
                   latency=metrics.latency_summary(self.latencies_ms),
                   curve=metrics.recall_curve(self.ranks, self.k))
        if self.k < 10:
            # Beyond the retriever's own k the metrics are not defined; keep them out of tables.
            for name in ("R@10", "MRR@10", "nDCG@10"):
                out.pop(name, None)
            out[f"MRR@{self.k}"] = metrics.mrr(self.ranks, self.k)
        return out

    def per_query(self) -> list[dict]:
        return [{"id": i, "rank": r, "ms": round(ms, 1), "top": t}
                for i, r, ms, t in zip(self.ids, self.ranks, self.latencies_ms, self.top)]


def doc_id(source: str) -> str:
    """Paragraph files are named <paragraph id>.txt, so the stem is the document id."""
    return Path(source).stem


def run(search: Search, questions: list[XQuestion], retriever: str, corpus: str, k: int,
        desc: str | None = None, rename: dict[str, str] | None = None) -> RetrievalRun:
    """`rename` maps file stems back to document ids where the files have neutral names."""
    result = RetrievalRun(retriever, questions[0].lang if questions else "", corpus, k)
    bar = progress_bar(len(questions), desc or f"{retriever} {result.lang} {corpus}")
    try:
        for q in questions:
            t0 = time.perf_counter()
            docs = search(q.question)
            result.latencies_ms.append((time.perf_counter() - t0) * 1000)
            if rename:
                docs = [rename.get(d, d) for d in docs]
            result.ranks.append(metrics.first_rank(docs, q.paragraph_id))
            result.ids.append(q.id)
            result.top.append(docs[0] if docs else "")
            bar.update(1)
    finally:
        bar.close()
    return result


def project_search(bot, mode: str, k: int) -> Search:
    """This project's retrieval through the public API, with the question's language detected as
    it is for users (the hybrid fusion depends on it)."""
    def search(question: str) -> list[str]:
        return [doc_id(p.source) for p in bot.search(question, k=k, mode=mode)]
    return search


PROJECT_MODES = {"bm25": "lexical", "dense": "dense", "hybrid": "hybrid"}


def evaluate(bot, questions_by_lang: dict[str, list[XQuestion]], corpus: str, k: int = 10,
             peer=None, retrievers: tuple[str, ...] = ("bm25", "dense", "hybrid"),
             on_run: Callable[[RetrievalRun], None] | None = None,
             rename: dict[str, str] | None = None) -> list[RetrievalRun]:
    """All retrievers on all languages; `on_run` sees each finished run (to save as it goes)."""
    runs = []
    for lang, questions in questions_by_lang.items():
        todo = [(project_search(bot, PROJECT_MODES[name], k), name, k) for name in retrievers]
        if peer is not None:
            todo += [(peer.default_search, "llamaindex-default", peer.default_k),
                     (peer.search_k(k), f"llamaindex-k{k}", k)]
        for search, name, kk in todo:
            runs.append(run(search, questions, name, corpus, kk, rename=rename))
            if on_run:
                on_run(runs[-1])
    return runs
