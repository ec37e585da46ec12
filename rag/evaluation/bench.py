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


def _latencies(bots: list[tuple[str, object]], questions: list[str]) -> dict[str, dict]:
    """Search and answer latency on every store, interleaved question by question: on a machine
    shared with other work, a busy minute then slows all corpus sizes alike instead of one."""
    for _, bot in bots:
        bot.ask(questions[0])   # first call loads the language detector; not part of steady state
    search_ms = {label: [] for label, _ in bots}
    ask_ms = {label: [] for label, _ in bots}
    bar = progress_bar(len(questions) * len(bots), "latency")
    try:
        for q in questions:
            for label, bot in bots:
                t0 = time.perf_counter()
                bot.search(q)
                t1 = time.perf_counter()
                bot.ask(q)
                t2 = time.perf_counter()
                search_ms[label].append((t1 - t0) * 1000)
                ask_ms[label].append((t2 - t1) * 1000)
                bar.update(1)
    finally:
        bar.close()
    return {label: {"search": metrics.latency_summary(search_ms[label]),
                    "ask": metrics.latency_summary(ask_ms[label])} for label, _ in bots}


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
    cpu0 = time.process_time()
    try:
        report = bot.ingest(files, progress=lambda d, t, m: bar.update(d - bar.n), remove_missing=False)
    finally:
        del bot.embedder.passages
        bar.close()
    return {"articles": len(report.added) + len(report.updated), "failed": len(report.failed),
            "failed_files": [f"{Path(p.path).name}: {p.reason}" for p in report.failed],
            "chunks": report.chunks_added, "seconds": round(report.seconds, 2),
            "embed_seconds": round(embed_seconds[0], 2), "cpu_seconds": round(time.process_time() - cpu0, 2)}


def cpu_ratio(ingest: dict, model: dict) -> float | None:
    """Ingest's efficiency in CPU time: the model's CPU seconds per chunk over ingest's (all of
    the process's threads). Load from other work on the machine stretches wall-clock time, by a
    different amount during the ingest and during the short model measurement; it changes CPU time
    per chunk much less, so this ratio holds where the wall-clock one swings."""
    if not ingest.get("cpu_seconds") or not model.get("cpu_seconds") or not ingest["chunks"]:
        return None
    return round((model["cpu_seconds"] / model["chunks"]) / (ingest["cpu_seconds"] / ingest["chunks"]), 3)


def embedding_ceiling(embedder, settings, files: list[Path], max_chunks: int = 512) -> dict:
    """Chunks/s of the model alone on the very texts ingest embeds: what ingest could reach if
    reading, cleaning, Chroma and BM25 cost nothing. `files` are the files that ingest got; the
    model embeds an even sample of their chunks (every n-th, so that short and long articles weigh
    as in the ingest) in one call, sorted by length over the whole sample: its best case."""
    from ..ingest import prepare
    from ..loading import UnreadableFile, read

    texts: list[str] = []
    for f in files:
        try:
            texts += [c.embed_text for c in prepare(read(f, settings.max_file_bytes), settings)]
        except UnreadableFile:
            continue
    total = len(texts)
    texts = texts[::max(1, -(-total // max_chunks))]
    embedder.passages(texts[:settings.embed_batch_size])   # warm-up
    t0, cpu0 = time.perf_counter(), time.process_time()
    embedder.passages(texts)
    seconds = time.perf_counter() - t0
    return {"chunks": len(texts), "of_chunks": total, "seconds": round(seconds, 2),
            "cpu_seconds": round(time.process_time() - cpu0, 2),
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


def _offline_env() -> dict[str, str]:
    """The environment of a measured `rag` process: offline, no telemetry."""
    return dict(os.environ, HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False", TOKENIZERS_PARALLELISM="false")


def cold_start(store_dir: Path, question: str, runs: int = 3, backend: str | None = None) -> dict:
    """A fresh `python -m rag ask` process on an existing store: interpreter, imports, model load,
    store open, one answer. Peak RSS is that process's own high-water mark."""
    env = _offline_env()
    if backend:
        env["RAG_EMBEDDING_BACKEND"] = backend
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


_FIRST_ANSWER = (
    "import json, sys, time\n"
    "from pathlib import Path\n"
    "from rag import Assistant\n"
    "from rag.settings import Settings\n"
    "bot = Assistant.open(Settings.from_env(store_dir=Path(sys.argv[1])), seed=False)\n"
    "bot.embedder\n"
    "bot.warm_up(everything=sys.argv[3] == 'everything')\n"
    "bot.warmed(600)\n"
    "t0 = time.perf_counter()\n"
    "answer = bot.ask(sys.argv[2])\n"
    "print(json.dumps({'ms': (time.perf_counter() - t0) * 1000, 'answer': answer.text[:200]}))\n"
)


def first_answers(store_dir: Path, questions: dict[str, str], runs: int = 2) -> dict:
    """The app's first answer after start, per question language: a fresh process opens the
    store, warms up as the app does (`Assistant.warm_up(everything=True)`: reader, dictionary,
    language tables) or as a one-shot question does (the reader only), waits for that, then
    times one question. The two alternate, so load from other work hits both alike."""
    env = _offline_env()
    out: dict = {}
    for lang, question in questions.items():
        ms: dict[str, list[float]] = {"reader": [], "everything": []}
        for _ in range(runs):
            for mode in ms:
                proc = subprocess.run([sys.executable, "-c", _FIRST_ANSWER, str(store_dir), question, mode],
                                      capture_output=True, text=True, env=env, timeout=600,
                                      cwd=Path(__file__).resolve().parents[2])
                if proc.returncode != 0:
                    return {"error": f"first answer ({lang}, {mode}) exited with {proc.returncode}: "
                                     f"{proc.stderr.strip()[-300:]}"}
                ms[mode].append(json.loads(proc.stdout.strip().splitlines()[-1])["ms"])
        med = {mode: metrics.percentile(v, 50) for mode, v in ms.items()}
        out[lang] = {"question": question, "runs": runs, **{f"{m}_ms": [round(x) for x in v] for m, v in ms.items()},
                     **{f"{m}_median_ms": round(x) for m, x in med.items()},
                     "ratio": round(med["everything"] / med["reader"], 3) if med["reader"] else None}
    return out


def run(out: Path, embedder, seed_files: list[Path], gnad_files: list[Path], questions: list[str],
        sizes: tuple[int, ...] = (200, 1028), cold_runs: int = 3) -> dict:
    """One fresh store per corpus size (seeds, seeds + each size of 10kGNAD). The largest is built
    first, so its ingest is the throughput measurement and the process's peak RSS after it is not
    inflated by the smaller stores. The largest store stays as `stores/scale` for the distractor
    retrieval run."""
    sizes = sorted({min(n, len(gnad_files)) for n in sizes if n > 0})
    result: dict = {"rss_before_mb": rss_mb(), "stages": [], "ingest": []}
    stores: dict[int, tuple[Path, object]] = {}
    for size in sorted([0] + sizes, reverse=True):
        store_dir = out / "stores" / ("scale" if size == sizes[-1] else f"bench-{size}")
        shutil.rmtree(store_dir, ignore_errors=True)   # throughput is measured on fresh stores
        bot = open_bot(store_dir, embedder)
        log(f"bench: store with seeds + {size} articles")
        sync_corpus(bot, seed_files, "ingest seeds")
        if size:
            step = _ingest(bot, gnad_files[:size], f"ingest 10kGNAD 0-{size}")
            result["ingest"].append(step)
        if size == sizes[-1]:
            result["peak_rss_mb"] = rss_mb()
            result["store"] = str(store_dir)
            log("bench: raw embedding throughput")
            result["embedding_ceiling"] = embedding_ceiling(embedder, bot.settings, gnad_files[:size])
        stores[size] = (store_dir, bot)

    full = max(result["ingest"], key=lambda s: s["articles"])
    result["throughput"] = {k: full.get(k) for k in ("articles", "chunks", "seconds", "embed_seconds", "cpu_seconds")}
    result["throughput"].update(
        cpu_ratio=cpu_ratio(full, result["embedding_ceiling"]),
        embed_share=round(full["embed_seconds"] / full["seconds"], 3) if full["seconds"] else None,
        articles_per_s=round(full["articles"] / full["seconds"], 2) if full["seconds"] else None,
        chunks_per_s=round(full["chunks"] / full["seconds"], 2) if full["seconds"] else None)

    labels = {size: "seeds" if not size else f"seeds + {size:,} articles" for size in stores}
    log("bench: latency")
    lat = _latencies([(labels[size], stores[size][1]) for size in sorted(stores)], questions)
    for size in sorted(stores):
        stage = {"label": labels[size], "articles": len(seed_files) + size,
                 "chunks": stores[size][1].store.count()}
        stage.update(lat[labels[size]])
        result["stages"].append(stage)
    log("bench: cold start")
    result["cold_start"] = cold_start(stores[sizes[-1]][0], questions[0], cold_runs)
    log("bench: first answer after start")
    result["first_answers"] = first_answers(stores[0][0], first_questions(questions), cold_runs)
    return result


def first_questions(questions: list[str]) -> dict[str, str]:
    """The first question of each language among `questions`."""
    from ..language import detect

    out: dict[str, str] = {}
    for q in questions:
        out.setdefault(detect(q), q)
    return out


# --- embedding backends side by side ---------------------------------------------------------
def compare_backends(out: Path, default_embedder, backends: list[str], seed_files: list[Path],
                     gnad_files: list[Path], questions: list[str], size: int, cold_runs: int = 3) -> list[dict]:
    """The same measurements for each embedding backend (e.g. torch and the default) in one run:
    the model's own chunks/s, ingest chunks/s into a fresh store, query-embedding and extractive
    answer p50, cold start and its peak RSS. Latencies and cold starts alternate between the
    backends, so that load from other work on the machine hits them alike: compare ratios."""
    from ..embedding import Embedder, choose_backend
    from ..settings import Settings

    size = min(size, len(gnad_files))
    rows, bots = [], []
    for name in backends:
        choice = choose_backend(Settings.from_env(embedding_backend=name))
        embedder = default_embedder if (default_embedder.backend, default_embedder.precision) == (
            choice.backend, choice.precision) else Embedder(Settings.from_env(embedding_backend=name))
        row = {"requested": name, "backend": embedder.describe()}
        store_dir = out / "stores" / f"backend-{embedder.backend}"
        shutil.rmtree(store_dir, ignore_errors=True)
        bot = open_bot(store_dir, embedder, embedding_backend=name)
        log(f"bench: {row['backend']}: ingest seeds + {size} articles")
        sync_corpus(bot, seed_files, "ingest seeds")
        step = _ingest(bot, gnad_files[:size], f"ingest 10kGNAD 0-{size} ({embedder.backend})")
        row["ingest"] = dict(step, chunks_per_s=round(step["chunks"] / step["seconds"], 2) if step["seconds"] else None)
        row["model"] = embedding_ceiling(embedder, bot.settings, gnad_files[:size])
        row["cpu_ratio"] = cpu_ratio(step, row["model"])
        row["store"] = str(store_dir)
        rows.append(row)
        bots.append(bot)
    log("bench: backends: query embedding and answer latency")
    for row, lat in zip(rows, _embed_and_answer_latency(bots, questions)):
        row.update(lat)
    log("bench: backends: cold start")
    for run in range(cold_runs):
        for row, name in zip(rows, backends):
            one = cold_start(Path(row["store"]), questions[0], 1, backend=name)
            row.setdefault("_cold", []).append(one)
    for row in rows:
        row["cold_start"] = _merge_cold(row.pop("_cold"))
    return rows


def _embed_and_answer_latency(bots: list, questions: list[str]) -> list[dict]:
    for bot in bots:   # warm-up: the language detector, the first compiled shapes
        bot.ask(questions[0])
    q_ms = [[] for _ in bots]
    a_ms = [[] for _ in bots]
    for q in questions:
        for i, bot in enumerate(bots):
            t0 = time.perf_counter()
            bot.embedder.queries([q])
            t1 = time.perf_counter()
            bot.ask(q)
            t2 = time.perf_counter()
            q_ms[i].append((t1 - t0) * 1000)
            a_ms[i].append((t2 - t1) * 1000)
    return [{"query_embedding": metrics.latency_summary(q), "answer": metrics.latency_summary(a)}
            for q, a in zip(q_ms, a_ms)]


def _merge_cold(runs: list[dict]) -> dict:
    errors = [r["error"] for r in runs if "error" in r]
    if errors:
        return {"error": errors[0]}
    first = [r["first_answer_ms"][0] for r in runs]
    return {"command": runs[0]["command"], "runs": len(runs), "first_answer_ms": first,
            "first_answer_median_ms": round(metrics.percentile(first, 50)),
            "peak_rss_mb": max((r["peak_rss_mb"] or 0) for r in runs) or None}
