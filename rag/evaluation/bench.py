"""Speed and memory: ingest throughput on 10kGNAD next to the embedding model's own throughput
(the ceiling), retrieval and answer latency at growing corpus sizes, cold start to first answer,
peak RSS. Timings go into the report, never into test assertions."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import metrics
from .common import log, open_bot, progress_bar, rss_mb, sync_corpus


def _latencies(bot, questions: list[str], label: str) -> dict:
    bot.ask(questions[0])   # first call loads the language detector; not part of steady state
    search_ms, ask_ms = [], []
    bar = progress_bar(len(questions), f"latency {label}")
    try:
        for q in questions:
            t0 = time.perf_counter()
            bot.search(q)
            t1 = time.perf_counter()
            bot.ask(q)
            t2 = time.perf_counter()
            search_ms.append((t1 - t0) * 1000)
            ask_ms.append((t2 - t1) * 1000)
            bar.update(1)
    finally:
        bar.close()
    return {"search": metrics.latency_summary(search_ms), "ask": metrics.latency_summary(ask_ms)}


def _ingest(bot, files: list[Path], desc: str) -> dict:
    """Ingest and time it, including how much of the time the model spent embedding: that share
    does not depend on how busy the machine is, unlike the raw throughput."""
    embed_seconds = [0.0]
    original = bot.embedder.passages

    def timed(*a, **kw):
        t0 = time.perf_counter()
        try:
            return original(*a, **kw)
        finally:
            embed_seconds[0] += time.perf_counter() - t0

    bar = progress_bar(len(files), desc, unit="file")
    bot.embedder.passages = timed   # instance attribute: shadows the method for this ingest only
    try:
        report = bot.ingest(files, progress=lambda d, t, m: bar.update(d - bar.n), remove_missing=False)
    finally:
        del bot.embedder.passages
        bar.close()
    return {"articles": len(report.added) + len(report.updated), "failed": len(report.failed),
            "failed_files": [f"{Path(p.path).name}: {p.reason}" for p in report.failed],
            "chunks": report.chunks_added, "seconds": round(report.seconds, 2),
            "embed_seconds": round(embed_seconds[0], 2)}


def embedding_ceiling(embedder, settings, files: list[Path], max_chunks: int = 256) -> dict:
    """Chunks/s of the model alone on the very texts ingest embeds: what ingest could reach if
    reading, cleaning, Chroma and BM25 cost nothing."""
    from ..ingest import prepare
    from ..loading import UnreadableFile, read

    texts: list[str] = []
    for f in files:
        try:
            texts += [c.embed_text for c in prepare(read(f, settings.max_file_bytes), settings)]
        except UnreadableFile:
            continue
        if len(texts) >= max_chunks:
            break
    texts = texts[:max_chunks]
    embedder.passages(texts[:settings.embed_batch_size])   # warm-up
    t0 = time.perf_counter()
    embedder.passages(texts)
    seconds = time.perf_counter() - t0
    return {"chunks": len(texts), "seconds": round(seconds, 2),
            "chunks_per_s": round(len(texts) / seconds, 2) if seconds else None,
            "batch_size": settings.embed_batch_size,
            "mean_chars": round(sum(map(len, texts)) / max(1, len(texts)))}


# `python -m rag ...` exactly, plus a report of the process's own peak RSS on the way out.
_WRAPPER = (
    "import atexit, runpy, sys\n"
    "def _peak():\n"
    "    try:\n"
    "        for line in open('/proc/self/status'):\n"
    "            if line.startswith('VmHWM:'):\n"
    "                sys.stderr.write('\\nEVAL_PEAK_RSS_KB ' + line.split()[1] + '\\n')\n"
    "    except OSError:\n"
    "        pass\n"
    "atexit.register(_peak)\n"
    "sys.argv = ['rag'] + sys.argv[1:]\n"
    "runpy.run_module('rag', run_name='__main__', alter_sys=True)\n"
)


def cold_start(store_dir: Path, question: str, runs: int = 3) -> dict:
    """A fresh `python -m rag ask` process on an existing store: interpreter, imports, model load,
    store open, one answer. Peak RSS is that process's own high-water mark."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False", TOKENIZERS_PARALLELISM="false")
    args = ["ask", "--store", str(store_dir), "--no-seed", "--json", question]
    cmd = [sys.executable, "-c", _WRAPPER] + args
    first_output, total, answers, peaks = [], [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                cwd=Path(__file__).resolve().parents[2])
        line = proc.stdout.readline()
        t1 = time.perf_counter()
        rest, err = proc.communicate(timeout=600)
        t2 = time.perf_counter()
        if proc.returncode != 0:
            return {"error": f"`python -m rag ask` exited with {proc.returncode}: {err.strip()[-300:]}"}
        first_output.append((t1 - t0) * 1000)
        total.append((t2 - t0) * 1000)
        peaks += [int(x.split()[1]) / 1024 for x in err.splitlines() if x.startswith("EVAL_PEAK_RSS_KB ")]
        try:
            answers.append(json.loads(line + rest).get("answer", "")[:200])
        except ValueError:
            answers.append(line[:200])
    shown = " ".join(shlex.quote(a) for a in ["python", "-m", "rag"] + args)
    return {"command": shown, "runs": runs, "first_answer_ms": [round(x) for x in first_output],
            "process_ms": [round(x) for x in total],
            "first_answer_median_ms": round(metrics.percentile(first_output, 50)),
            "peak_rss_mb": round(max(peaks), 1) if peaks else None, "answer": answers[0] if answers else ""}


def run(out: Path, embedder, seed_files: list[Path], gnad_files: list[Path], questions: list[str],
        sizes: tuple[int, ...] = (200, 1028), cold_runs: int = 3) -> dict:
    """Grow one fresh store stage by stage (seeds, +sizes[0] articles, ...), measuring each stage.
    The store is left holding seeds + all articles, for the distractor retrieval run."""
    store_dir = out / "stores" / "scale"
    shutil.rmtree(store_dir, ignore_errors=True)   # throughput is measured on a fresh store
    bot = open_bot(store_dir, embedder)
    result: dict = {"store": str(store_dir), "rss_before_mb": rss_mb(), "stages": [], "ingest": []}

    log("bench: seeds")
    sync_corpus(bot, seed_files, "ingest seeds")
    stage = {"label": "seeds", "articles": len(seed_files), "chunks": bot.store.count()}
    stage.update(_latencies(bot, questions, "seeds"))
    result["stages"].append(stage)

    done = 0
    for size in sizes:
        size = min(size, len(gnad_files))
        if size <= done:
            continue
        log(f"bench: +{size} articles")
        step = _ingest(bot, gnad_files[done:size], f"ingest 10kGNAD {done}-{size}")
        result["ingest"].append(step)
        done = size
        stage = {"label": f"seeds + {size:,} articles", "articles": len(seed_files) + size,
                 "chunks": bot.store.count(), "rss_mb": rss_mb()}
        stage.update(_latencies(bot, questions, f"+{size}"))
        result["stages"].append(stage)

    articles = sum(s["articles"] for s in result["ingest"])
    chunks = sum(s["chunks"] for s in result["ingest"])
    seconds = sum(s["seconds"] for s in result["ingest"])
    embed_seconds = sum(s["embed_seconds"] for s in result["ingest"])
    result["throughput"] = {"articles": articles, "chunks": chunks, "seconds": round(seconds, 1),
                            "embed_seconds": round(embed_seconds, 1),
                            "embed_share": round(embed_seconds / seconds, 3) if seconds else None,
                            "articles_per_s": round(articles / seconds, 2) if seconds else None,
                            "chunks_per_s": round(chunks / seconds, 2) if seconds else None}
    log("bench: raw embedding throughput")
    result["embedding_ceiling"] = embedding_ceiling(embedder, bot.settings, gnad_files)
    result["peak_rss_mb"] = rss_mb()
    log("bench: cold start")
    result["cold_start"] = cold_start(store_dir, questions[0], cold_runs)
    return result
