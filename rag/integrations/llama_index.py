"""This pipeline inside llama-index: a retriever and a query engine.

    from rag import Assistant
    from rag.integrations.llama_index import RagQueryEngine, RagRetriever
    bot = Assistant.open()
    nodes = RagRetriever(bot, k=5).retrieve("Wer ist der Sprecher des Kremls?")   # list[NodeWithScore]
    print(RagQueryEngine(bot).query("Who is the Kremlin spokesman?").source_nodes)

`RagRetriever` returns the project's hybrid (dense + BM25) passages as `NodeWithScore`, so it plugs
into anything that takes a llama-index retriever: `RetrieverEvaluator`, `CondensePlusContextChatEngine`,
`RetrieverQueryEngine` with your own LLM. `RagQueryEngine` answers with the project's own answerer
(extractive, or the configured LLM with checked citations): its `Response.response` is the answer
with [n] markers and `source_nodes` are the cited passages, in marker order.
"""
from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response
from llama_index.core.schema import NodeRelationship, NodeWithScore, QueryBundle, RelatedNodeInfo, TextNode

from ..results import Answer, Passage

NODE_IDS = ("passage", "article")
# Offsets and scores help a program find the quote; they only distract an LLM or an embedder.
_HIDDEN_FROM_MODELS = ["start", "end", "chunk_id", "dense_score", "lexical_score", "url", "quote_start",
                       "quote_end"]


def passage_node(p: Passage, node_id: str | None = None, **extra: Any) -> NodeWithScore:
    """One retrieved passage as a llama-index node: its text, the fused score, and metadata with
    the article's source file, title, outlet, date and the passage's character offsets."""
    metadata = dict(source=p.source, title=p.title, outlet=p.outlet, date=p.date, url=p.url, start=p.start,
                    end=p.end, chunk_id=p.chunk_id, dense_score=p.dense_score,
                    lexical_score=p.lexical_score, **extra)
    node = TextNode(id_=node_id or p.chunk_id, text=p.text, metadata=metadata,
                    start_char_idx=p.start, end_char_idx=p.end,
                    excluded_llm_metadata_keys=list(_HIDDEN_FROM_MODELS),
                    excluded_embed_metadata_keys=list(_HIDDEN_FROM_MODELS),
                    relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=p.source)})
    return NodeWithScore(node=node, score=p.score)


def passage_nodes(passages: list[Passage], node_ids: str = "passage") -> list[NodeWithScore]:
    """`node_ids="article"`: each node's id is its article's source and only an article's best
    passage is kept, so llama-index's RetrieverEvaluator scores articles (expected_ids = sources),
    as this project's evaluation does."""
    if node_ids not in NODE_IDS:
        raise ValueError(f"node_ids must be one of {', '.join(NODE_IDS)}, not {node_ids!r}")
    if node_ids == "passage":
        return [passage_node(p) for p in passages]
    seen: set[str] = set()
    out = []
    for p in passages:
        if p.source not in seen:
            seen.add(p.source)
            out.append(passage_node(p, node_id=p.source))
    return out


def cited_nodes(answer: Answer) -> list[NodeWithScore]:
    """The passages an answer cites, one node per [n], with the quote and its offsets."""
    by_id = {p.chunk_id: p for p in answer.passages}
    out = []
    for c in answer.citations:
        p = by_id.get(c.chunk_id)
        if p is None:   # a citation always comes from a retrieved passage; keep the quote anyway
            p = Passage(chunk_id=c.chunk_id, text=c.quote, source=c.source, title=c.title,
                        outlet=c.outlet, date=c.date, url=c.url, start=c.start, end=c.end)
        out.append(passage_node(p, node_id=f"{p.chunk_id}#{c.n}", n=c.n, quote=c.quote,
                                quote_start=c.start, quote_end=c.end))
    return out


class RagRetriever(BaseRetriever):
    """The project's retrieval (hybrid by default) behind llama-index's retriever interface.

    k, mode ("hybrid", "dense", "lexical"), lang and the outlet/date filters are those of
    `Assistant.search`."""

    def __init__(self, assistant, k: int | None = None, mode: str = "hybrid", lang: str | None = None,
                 outlet: str = "", date_from: str = "", date_to: str = "", node_ids: str = "passage",
                 callback_manager=None):
        if node_ids not in NODE_IDS:
            raise ValueError(f"node_ids must be one of {', '.join(NODE_IDS)}, not {node_ids!r}")
        super().__init__(callback_manager=callback_manager)
        self.assistant = assistant
        self.options = dict(k=k, mode=mode, lang=lang, outlet=outlet, date_from=date_from, date_to=date_to)
        self.node_ids = node_ids

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        passages = self.assistant.search(query_bundle.query_str, **self.options)
        return passage_nodes(passages, self.node_ids)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        # The embedder and Chroma calls block; keep the event loop free while they run.
        return await asyncio.to_thread(self._retrieve, query_bundle)


class RagQueryEngine(BaseQueryEngine):
    """Questions answered by the project's own answerer. `Response.metadata` carries the rest of
    the Answer: language, abstained, mode, notice, citations (as dicts) and timings_ms."""

    def __init__(self, assistant, k: int | None = None, lang: str | None = None, outlet: str = "",
                 date_from: str = "", date_to: str = "", callback_manager=None):
        super().__init__(callback_manager=callback_manager)
        self.assistant = assistant
        self.options = dict(k=k, lang=lang, outlet=outlet, date_from=date_from, date_to=date_to)

    def _query(self, query_bundle: QueryBundle) -> Response:
        answer = self.assistant.ask(query_bundle.query_str, **self.options)
        return answer_response(answer)

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return await asyncio.to_thread(self._query, query_bundle)

    def _get_prompt_modules(self) -> dict:
        return {}   # the prompts live in rag/prompts.py, not in llama-index templates


def answer_response(answer: Answer) -> Response:
    metadata = dict(language=answer.language, abstained=answer.abstained, mode=answer.mode,
                    notice=answer.notice, question=answer.question, timings_ms=answer.timings_ms,
                    citations=[c.to_dict() for c in answer.citations])
    return Response(response=answer.text, source_nodes=cited_nodes(answer), metadata=metadata)


__all__ = ["RagQueryEngine", "RagRetriever", "answer_response", "cited_nodes", "passage_node",
           "passage_nodes"]
