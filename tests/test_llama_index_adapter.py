"""The llama-index adapters, exercised through llama-index's own APIs (real model, real Chroma)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from llama_index.core.chat_engine import CondensePlusContextChatEngine
from llama_index.core.evaluation import RetrieverEvaluator
from llama_index.core.llms import MockLLM
from llama_index.core.schema import NodeWithScore

from rag.evaluation import data, retrieval_eval
from rag.integrations.llama_index import RagQueryEngine, RagRetriever

KREMLIN = "Wer ist der Sprecher des Kremls?"


def test_retriever_returns_the_hybrid_passages_as_scored_nodes(seeded):
    nodes = RagRetriever(seeded, k=4).retrieve(KREMLIN)
    passages = seeded.search(KREMLIN, k=4)
    assert len(nodes) == 4 and all(isinstance(n, NodeWithScore) for n in nodes)
    assert [n.node.node_id for n in nodes] == [p.chunk_id for p in passages]
    assert [n.score for n in nodes] == [p.score for p in passages]
    first, p = nodes[0], passages[0]
    assert first.node.get_content() == p.text and "Peskow" in " ".join(n.node.get_content() for n in nodes)
    meta = first.node.metadata
    assert (meta["source"], meta["title"], meta["outlet"], meta["date"]) == (p.source, p.title, p.outlet, p.date)
    assert (meta["start"], meta["end"]) == (p.start, p.end) and p.end > p.start
    # An LLM sees the title and outlet, not the offsets.
    llm_view = first.node.get_content(metadata_mode="llm")
    assert p.title in llm_view and "chunk_id" not in llm_view


def test_retriever_passes_mode_and_filters_through(seeded):
    outlet = next(a["outlet"] for a in seeded.articles() if a["outlet"])
    nodes = RagRetriever(seeded, k=3, mode="lexical", outlet=outlet).retrieve("Lawrow Nordkorea")
    assert nodes and {n.node.metadata["outlet"] for n in nodes} == {outlet}
    assert all(n.node.metadata["dense_score"] is not None for n in nodes)
    with pytest.raises(ValueError):
        RagRetriever(seeded, node_ids="document")


def test_query_engine_response_carries_the_answer_and_the_cited_passages(seeded):
    response = RagQueryEngine(seeded).query("Who is the Kremlin spokesman?")
    answer = seeded.ask("Who is the Kremlin spokesman?")
    assert response.response == answer.text and "Peskow" in response.response
    assert response.metadata["language"] == "en" and not response.metadata["abstained"]
    assert [n.node.metadata["n"] for n in response.source_nodes] == [c.n for c in answer.citations]
    for node, c in zip(response.source_nodes, answer.citations):
        assert c.quote in node.node.get_content() and node.node.metadata["source"] == c.source
    asynchronous = asyncio.run(RagQueryEngine(seeded).aquery("Who is the Kremlin spokesman?"))
    assert asynchronous.response == answer.text
    abstained = RagQueryEngine(seeded).query("Wie hoch ist die Inflation in Japan?")
    assert abstained.metadata["abstained"] and abstained.source_nodes == []


def test_condense_plus_context_chat_engine_uses_the_retriever(seeded):
    # MockLLM echoes its prompt, so the reply shows exactly which context the engine put in.
    engine = CondensePlusContextChatEngine.from_defaults(retriever=RagRetriever(seeded, k=3), llm=MockLLM())
    reply = engine.chat(KREMLIN)
    expected = seeded.search(KREMLIN, k=3)
    assert [n.node.node_id for n in reply.source_nodes] == [p.chunk_id for p in expected]
    assert expected[0].text[:200] in reply.response


def _xquad_slice(tmp_path: Path, make_assistant):
    """Six German XQuAD paragraphs as articles and twelve of their German questions."""
    xquad = data.load_xquad(langs=("de",))
    paragraphs = xquad.paragraphs[:6]
    keep = {p.id for p in paragraphs}
    questions = data.subset([q for q in xquad.questions["de"] if q.paragraph_id in keep], 12)
    files = data.write_corpus(tmp_path / "xquad", data.xquad_docs(paragraphs))
    bot = make_assistant(seed=False)
    bot.ingest(files)
    return bot, questions


def test_retriever_evaluator_agrees_with_the_projects_hit_rate_and_mrr(tmp_path, make_assistant):
    bot, questions = _xquad_slice(tmp_path, make_assistant)
    k = 5
    ours = retrieval_eval.evaluate(bot, {"de": questions}, "xquad", k=k, retrievers=("hybrid",))[0].summary()

    source_of = {retrieval_eval.doc_id(a["source"]): a["source"] for a in bot.articles()}
    evaluator = RetrieverEvaluator.from_metric_names(
        ["hit_rate", "mrr"], retriever=RagRetriever(bot, k=k, node_ids="article"))
    results = [evaluator.evaluate(q.question, expected_ids=[source_of[q.paragraph_id]]) for q in questions]
    hit_rate = sum(r.metric_vals_dict["hit_rate"] for r in results) / len(results)
    mrr = sum(r.metric_vals_dict["mrr"] for r in results) / len(results)

    assert len(results) == 12
    assert hit_rate == pytest.approx(ours[f"R@{k}"]) and mrr == pytest.approx(ours[f"MRR@{k}"])
    # A slice the retriever mostly gets right: the agreement is over real hits, not all misses.
    assert ours[f"R@{k}"] > 0.5
