"""`python -m rag eval` end to end, as a user runs it: a real subprocess, the real embedding
model, Chroma, the llama-index peer, and an LLM answering mode against a scripted
OpenAI-compatible server on 127.0.0.1. The data are small slices of XQuAD and 10kGNAD so the
whole suite (benchmark, retrieval with distractors, answers) runs in a few minutes; the quality
numbers themselves are gated in test_quality_gate.py."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rag.evaluation import data
from scripted_llm import ScriptedLLM

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
# The two seed articles that name the Kremlin spokesman (as in eval/gold/seeds-*.jsonl).
KREMLIN = sorted(p.name for p in SEEDS.glob("00[12]_*.txt"))

GOLD = [
    {"id": "de-1", "question": "Wer ist der Sprecher des Kremls?", "lang": "de",
     "answers": ["Dmitri Peskow", "Peskow"], "sources": KREMLIN},
    {"id": "de-1b", "question": "Und was sagte er?", "lang": "de", "answers": ["Peskow"],
     "sources": KREMLIN, "follow_up_of": "de-1"},
    {"id": "en-1", "question": "Who is the Kremlin spokesman?", "lang": "en",
     "answers": ["Dmitry Peskov", "Peskov"], "sources": KREMLIN},
    # Off-topic, so every reader abstains; near-topic abstention is measured in the report.
    {"id": "en-na", "question": "Who won the 2014 FIFA World Cup?", "lang": "en",
     "answers": [], "sources": [], "answerable": False},
]


def _eval(args: list[str], env: dict | None = None, timeout: int = 1200) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "rag", "eval", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=full_env)


def _small_xquad(folder: Path, articles: int = 2, paragraphs: int = 3) -> Path:
    """The first paragraphs of the first articles of XQuAD, German and English, ids intact."""
    folder.mkdir(parents=True)
    for lang in ("de", "en"):
        full = json.loads((data.DEFAULT_XQUAD / f"xquad.{lang}.json").read_text(encoding="utf-8"))
        full["data"] = [dict(a, paragraphs=a["paragraphs"][:paragraphs]) for a in full["data"][:articles]]
        (folder / f"xquad.{lang}.json").write_text(json.dumps(full, ensure_ascii=False), encoding="utf-8")
    return folder


def _small_gnad(path: Path, n: int = 6) -> Path:
    lines = data.DEFAULT_GNAD.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:n]), encoding="utf-8")
    assert len(data.load_gnad(path)) == n
    return path


def _gold_file(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in items), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """One `python -m rag eval` over everything, with an LLM configured so both answer modes run."""
    tmp = tmp_path_factory.mktemp("eval")
    xquad = _small_xquad(tmp / "xquad")
    gnad = _small_gnad(tmp / "gnad.csv")
    gold = _gold_file(tmp / "gold.jsonl", GOLD)
    out = tmp / "out"
    with ScriptedLLM() as server:
        # Eight of the slice's 62 questions per language keep every retriever, corpus and language in
        # the run (all 62 took 19 of the 20-minute timeout on a loaded 2-core machine).
        proc = _eval(["--out", str(out), "--xquad", str(xquad), "--gnad", str(gnad), "--sizes", "2,4",
                      "--questions", "8",
                      "--cold-runs", "1", "--latency-questions", "2", "--answer-questions", "2",
                      "--llm-answer-questions", "1", "--gold", str(gold), "--articles", str(SEEDS)],
                     env={"RAG_LLM": "openai", "RAG_LLM_BASE_URL": server.url, "RAG_LLM_MODEL": "scripted"})
        requests = len(server.requests)
    results = json.loads((out / "results.json").read_text(encoding="utf-8")) if proc.returncode == 0 else {}
    return proc, out, results, requests


def test_full_run_writes_results_report_and_plots(full_run):
    proc, out, results, _ = full_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert set(results) >= {"bench", "retrieval", "answers", "settings"}
    report = (out / "report.md").read_text(encoding="utf-8")
    for heading in ("## 1. Retrieval on XQuAD", "Acceptance comparisons", "python -m rag eval --out",
                    "LLM answer kept", "**First answer after start**"):
        assert heading in report
    # The LLM mode's line says how many answers are the LLM's own (the scripted model quotes a
    # German sentence, which an English question may not keep: then it names the notice).
    assert re.search(r"gold:gold\.jsonl, llm: (Every answer is the LLM's own|\d of 4 answers fell back "
                     r"to the extractive answer: \d × “The language model did not answer in English)", report)
    for png in ("recall_at_k_xquad.png", "recall_at_k_xquad_10kgnad.png", "recall_at_k_xquad-in-articles.png",
                "latency_vs_size.png"):
        assert (out / png).stat().st_size > 1000, png
        assert f"]({png})" in report
    # Licences travel with the copies of the data.
    assert (out / "corpus" / "news" / "NOTICE").is_file()


def test_retrieval_runs_every_retriever_on_both_corpora_and_languages(full_run):
    _, _, results, _ = full_run
    ret = results["retrieval"]
    seen = {(r["corpus"], r["retriever"], r["lang"]) for r in ret["runs"]}
    for corpus in ("xquad", "xquad+10kgnad", "xquad-in-articles"):
        for retriever in ("bm25", "dense", "hybrid", "llamaindex-default", "llamaindex-k10"):
            for lang in ("de", "en"):
                assert (corpus, retriever, lang) in seen
    assert ret["corpora"]["xquad"]["documents"] == 6
    assert ret["corpora"]["xquad+10kgnad"]["documents"] == 6 + 6
    assert ret["corpora"]["xquad+10kgnad"]["peer"]["default_similarity_top_k"] == 2
    inside = ret["corpora"]["xquad-in-articles"]
    assert inside["documents"] == 6 and inside["median_chars_before_paragraph"] > 200
    assert 0 <= inside["peer"]["nodes_truncated"] <= inside["peer"]["nodes"]
    assert 0 <= inside["peer"]["chars_not_embedded"] < 1
    # The distractor corpus has neutral file names, mapped back to paragraph ids for scoring: a
    # mapping that failed would leave every question unfound.
    names = {p.stem for p in (full_run[1] / "corpus" / "news").glob("*.txt")}
    assert len(names) == 12 and all(n.startswith("doc-") for n in names)
    assert len(list((full_run[1] / "corpus" / "in-articles").glob("doc-*.txt"))) == 6
    for key in ("xquad+10kgnad/hybrid/de", "xquad+10kgnad/llamaindex-k10/en", "xquad-in-articles/dense/en"):
        tops = [q["top"] for q in ret["per_query"][key]]
        assert tops and not any(t.startswith("doc-") for t in tops), tops
    dense_de = next(r for r in ret["runs"] if r["corpus"] == "xquad+10kgnad" and r["retriever"] == "dense"
                    and r["lang"] == "de")
    assert dense_de["R@10"] > 0.5


def test_bench_measures_each_corpus_size(full_run):
    _, _, results, _ = full_run
    b = results["bench"]
    assert [s["articles"] for s in b["stages"]] == [5, 7, 9]   # seeds, +2, +4 10kGNAD articles
    assert b["throughput"]["articles"] == 4 and b["throughput"]["chunks"] >= 4
    assert 0 < b["throughput"]["embed_share"] <= 1
    assert b["embedding_ceiling"]["chunks"] > 0
    # The model alone is measured on the chunks of the very articles ingested.
    assert b["embedding_ceiling"]["of_chunks"] == b["throughput"]["chunks"]
    assert b["throughput"]["cpu_seconds"] > 0
    for s in b["stages"]:
        assert s["search"]["n"] == s["ask"]["n"] == 2
    cs = b["cold_start"]
    assert "error" not in cs, cs
    assert cs["runs"] == 1 and cs["peak_rss_mb"] > 100 and cs["answer"]
    # The app's first answer after start, warmed up both ways, for the first question of each
    # language among the latency questions (the seed gold's first two: one German, one English).
    fa = b["first_answers"]
    assert "error" not in fa, fa
    assert set(fa) == {"de", "en"} and fa["en"]["question"].startswith("Who")
    for r in fa.values():
        assert len(r["reader_ms"]) == len(r["everything_ms"]) == 1 and r["ratio"] > 0
    # torch and the default backend side by side, on the same articles
    backends = {r["requested"]: r for r in b["backends"]}
    assert set(backends) == {"torch", "auto"} and backends["torch"]["backend"] == "torch fp32 (cpu)"
    for r in backends.values():
        assert r["ingest"]["chunks"] == b["throughput"]["chunks"] and r["model"]["chunks_per_s"] > 0
        assert r["query_embedding"]["n"] == r["answer"]["n"] == 2
        assert "error" not in r["cold_start"] and r["cold_start"]["peak_rss_mb"] > 100


def test_answers_in_both_modes_on_the_user_gold_file(full_run):
    _, _, results, requests = full_run
    ans = results["answers"]
    assert ans["modes"] == ["extractive", "baseline", "llm"]
    runs = {(r["dataset"], r["mode"]): r for r in ans["runs"]}
    assert set(runs) == {(d, m) for d in ("gold:gold.jsonl", "xquad-de", "xquad-en")
                         for m in ("extractive", "baseline", "llm")}
    assert runs[("gold:gold.jsonl", "extractive")]["summary"]["n"] == len(GOLD)
    assert runs[("gold:gold.jsonl", "baseline")]["answer_modes_seen"] == ["extractive-baseline"]
    # XQuAD: test-split questions only, one answerable and one about a held-out paragraph.
    assert runs[("xquad-de", "llm")]["summary"]["n"] == 2
    xq = ans["records"]["xquad-de/extractive"]
    assert {x["category"] for x in xq} == {"xquad", "unanswerable"}
    assert all(x["id"] and data.split_of(data.Paragraph(x["gold_sources"][0], "", "")) == "test"
               for x in xq if x["answerable"])
    # The span ceiling also over every question of each split (article 0 is dev, 1 test): the dev
    # figure is what the short-answer rules are chosen on.
    ceilings = ans["ceilings"]
    assert ceilings["xquad-en, every test question"]["n"] > ceilings["xquad-en"]["n"] > 0
    assert ceilings["xquad-en, every dev question"]["n"] > 0
    assert "llm:scripted" in runs[("gold:gold.jsonl", "llm")]["answer_modes_seen"]
    # Every gold question went to the LLM. The scripted model quotes a German sentence of the
    # passages it is given; an English answer that reads as German falls back to the extractive
    # one with the language notice (which English questions that hits depends on the passages).
    llm = {x["id"]: x for x in ans["records"]["gold:gold.jsonl/llm"]}
    assert all(x["mode"] == "llm:scripted" or "did not answer in English" in x["notice"] for x in llm.values())
    assert llm["de-1"]["mode"] == llm["de-1b"]["mode"] == "llm:scripted"
    assert runs[("gold:gold.jsonl", "llm")]["summary"]["generated"] >= 0.5
    assert runs[("gold:gold.jsonl", "extractive")]["summary"]["generated"] == 0.0
    assert requests > 0
    extractive = {x["id"]: x for x in ans["records"]["gold:gold.jsonl/extractive"]}
    assert extractive["de-1"]["contains"] and extractive["de-1"]["citation_precision"] == 1.0
    assert extractive["en-na"]["abstained"]


def test_a_gold_source_missing_from_the_articles_is_refused(tmp_path):
    gold = _gold_file(tmp_path / "gold.jsonl", [dict(GOLD[0], sources=["no-such-article.txt"])])
    proc = _eval(["answers", "--out", str(tmp_path / "out"), "--gold", str(gold), "--articles", str(SEEDS)],
                 timeout=300)
    assert proc.returncode == 2
    assert "no-such-article.txt" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("line, message", [
    ('{"id": "a", "question": "Wer?", "lang": "fr", "answers": ["x"], "sources": ["y"]}', 'line 1'),
    ("not json", "line 1 is not valid JSON"),
])
def test_a_malformed_gold_file_is_refused_with_its_line(tmp_path, line, message):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(line + "\n", encoding="utf-8")
    proc = _eval(["answers", "--out", str(tmp_path / "out"), "--gold", str(gold), "--articles", str(SEEDS)],
                 timeout=300)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_unusable_arguments_and_results_file_get_one_sentence(tmp_path):
    proc = _eval(["answers", "--out", str(tmp_path / "a"), "--articles", str(SEEDS)], timeout=300)
    assert proc.returncode == 2 and "--articles needs --gold" in proc.stderr
    broken = tmp_path / "b"
    broken.mkdir()
    (broken / "results.json").write_text("{half", encoding="utf-8")
    proc = _eval(["report", "--out", str(broken)], timeout=300)
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr and "Traceback" not in proc.stderr
    assert (broken / "results.json").read_text(encoding="utf-8") == "{half"   # nothing overwritten
    proc = _eval(["answers", "--modes", "llm", "--out", str(tmp_path / "c")], timeout=300,
                 env={"RAG_LLM": ""})
    assert proc.returncode == 2 and "needs an LLM configured" in proc.stderr
