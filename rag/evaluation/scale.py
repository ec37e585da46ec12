"""Scale benchmark: app replicas on one `chroma run` server holding ~100,000 chunks.

    python -m rag.evaluation.scale --chunks 100000            # build (cached) and measure
    python -m rag.evaluation.scale --chunks 20000 --out x.json

The store: the five seed articles, ingested normally (real embeddings), plus 10kGNAD articles and
generated variants of them until --chunks is reached. A variant is 6-25 sentences drawn from three
random 10kGNAD articles of one category, shuffled, under a new headline, so its words and their
frequencies are those of real news. Variants and 10kGNAD articles get RANDOM UNIT VECTORS instead
of embeddings: embedding 100k chunks takes hours on a small CPU, and this benchmark measures the
mechanics (BM25 build and refresh, Chroma and HTTP, latency, memory), not retrieval quality.

Measured, all through a real `chroma run` server on 127.0.0.1: BM25 build time and memory (the
numpy index next to the former dict-of-dicts JSON index, same documents, same process), a
replica's refresh after another replica ingests or removes one article, hybrid retrieval and
answer latency, start time and peak RSS of a fresh replica process (cold: no local cache; warm:
with its cache file). Timings go into the JSON result, never into test assertions."""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from ..settings import PROJECT_ROOT, Settings
from . import data, metrics
from .common import log

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ])")


# --- the corpus ----------------------------------------------------------------------------------
def variant_texts(articles: list[data.GnadArticle], seed: int = 13):
    """Endless (name, text) pairs: 10kGNAD articles first, then generated variants."""
    for a in articles:
        yield f"gnad/{a.id}.txt", a.text
    rng = random.Random(seed)
    by_label: dict[str, list[list[str]]] = {}
    for a in articles:
        by_label.setdefault(a.label, []).append(_SENTENCE.split(a.text))
    labels = sorted(by_label)
    i = 0
    while True:
        label = rng.choice(labels)
        pool = [s for doc in rng.sample(by_label[label], min(3, len(by_label[label]))) for s in doc]
        body = rng.sample(pool, min(len(pool), rng.randint(6, 25)))
        head = " ".join(body[0].split()[:8]).rstrip(".,;:")
        yield f"variant/{label}-{i:06d}.txt", f"{label}: {head}\n\n" + " ".join(body)
        i += 1


def build_store(bot, target: int) -> dict:
    """Fill the collection up to `target` chunks (kept across runs: a bigger target adds to it)."""
    from ..ingest import prepare
    from ..loading import SourceDoc, UnreadableFile, file_hash

    store, settings = bot.store, bot.settings
    if store.count() == 0:
        bot.ingest([settings.seeds_dir])
    have = store.count()
    t0 = time.perf_counter()
    rng = np.random.default_rng(7)
    batch: list = []
    added = 0
    for name, text in variant_texts(data.load_gnad()):
        if have + added >= target:
            break
        doc = SourceDoc(str(PROJECT_ROOT / ".cache" / "scale" / name), text, file_hash(text.encode()))
        try:
            chunks = prepare(doc, settings)
        except UnreadableFile:
            continue
        batch += chunks
        added += len(chunks)
        if len(batch) >= 1000:
            _insert_random(store, batch, rng)
            batch = []
    _insert_random(store, batch, rng)
    return {"chunks": store.count(), "generated_chunks_added": added,
            "build_seconds": round(time.perf_counter() - t0, 1)}


def _insert_random(store, chunks, rng) -> None:
    """Straight into Chroma (the builder's own BM25 index is not the subject of the benchmark)."""
    if not chunks:
        return
    existing = set(store.collection.get(ids=[c.id for c in chunks], include=[])["ids"])
    chunks = [c for c in chunks if c.id not in existing]
    if not chunks:
        return
    vec = rng.standard_normal((len(chunks), 384)).astype(np.float32)
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    for i in range(0, len(chunks), 500):
        part = chunks[i:i + 500]
        store.collection.add(ids=[c.id for c in part], embeddings=vec[i:i + 500].tolist(),
                             documents=[c.text for c in part], metadatas=[c.meta for c in part])


# --- the chroma server ---------------------------------------------------------------------------
def start_server(path: Path) -> tuple[subprocess.Popen, str]:
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    chroma = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen([str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/api/v2/heartbeat", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("chroma run did not come up")


# --- BM25: numpy index next to the former dict index ----------------------------------------------
def fetch_all(store) -> dict[str, str]:
    from ..store import lexical_text

    out: dict[str, str] = {}
    for offset in range(0, store.count(), 5000):
        got = store.collection.get(include=["documents", "metadatas"], limit=5000, offset=offset)
        out.update({cid: lexical_text(t, m) for cid, t, m in zip(got["ids"], got["documents"], got["metadatas"])})
    return out


class DictBM25:
    """The index this project used before: dict-of-dict postings saved as JSON (the baseline)."""

    def __init__(self, counted: dict[str, dict[str, int]], k1=1.2, b=0.75):
        self.k1, self.b, self.docs = k1, b, counted
        self.lengths = {d: sum(tf.values()) for d, tf in counted.items()}
        self.total = sum(self.lengths.values())
        self.postings: dict[str, dict[str, int]] = {}
        for d, tf in counted.items():
            for term, n in tf.items():
                self.postings.setdefault(term, {})[d] = n

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        import math

        from ..lexical import tokenize

        n, avg = len(self.docs), self.total / len(self.docs)
        scores: dict[str, float] = {}
        for term in set(tokenize(query)):
            plist = self.postings.get(term)
            if not plist:
                continue
            idf = math.log(1 + (n - len(plist) + 0.5) / (len(plist) + 0.5))
            for d, tf in plist.items():
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[d] / avg)
                scores[d] = scores.get(d, 0.0) + idf * tf * (self.k1 + 1) / norm
        return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _traced(fn) -> int:
    """Bytes still allocated by what fn builds (numpy reports its arrays to tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    obj = fn()
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del obj
    gc.collect()
    return size


def compare_indexes(store, queries: list[str], work: Path) -> dict:
    from ..lexical import BM25Index, build_segment, term_counts

    texts, fetch_s = _timed(lambda: fetch_all(store))
    counted, token_s = _timed(lambda: {d: term_counts(t) for d, t in texts.items()})
    seg, np_build_s = _timed(lambda: build_segment(list(counted.items())))
    old, dict_build_s = _timed(lambda: DictBM25(counted))
    new = BM25Index(work / "bench-lexical.npz")
    new.rebuild(texts)
    same = sum(new.search(q, 10) == old.search(q, 10) for q in queries)
    result = {"documents": len(texts), "fetch_from_chroma_s": round(fetch_s, 2),
              "tokenize_s": round(token_s, 2), "same_top10_rankings": f"{same}/{len(queries)}"}
    for label, index in (("numpy", new), ("dict_json", old)):
        ms = []
        for q in queries:
            t0 = time.perf_counter()
            index.search(q, 30)
            ms.append((time.perf_counter() - t0) * 1000)
        result[f"{label}_search"] = metrics.latency_summary(ms)
    _, save_s = _timed(new.save)
    _, load_s = _timed(lambda: BM25Index(new.path))
    json_path = work / "bench-lexical.json"
    _, json_save_s = _timed(lambda: json_path.write_text(json.dumps({"version": 1, "docs": counted})))
    _, json_load_s = _timed(lambda: DictBM25(json.loads(json_path.read_text())["docs"]))
    result.update(
        numpy_build_s=round(np_build_s, 2), dict_build_s=round(dict_build_s, 2),
        numpy_save_s=round(save_s, 2), numpy_load_s=round(load_s, 2),
        json_save_s=round(json_save_s, 2), json_load_s=round(json_load_s, 2),
        numpy_file_mb=round(new.path.stat().st_size / 1e6, 1), json_file_mb=round(json_path.stat().st_size / 1e6, 1))
    del old, seg, new
    gc.collect()
    result["numpy_memory_mb"] = round(_traced(lambda: build_segment(list(counted.items()))) / 1e6, 1)
    # The old index owned its per-document term dicts: copy them so they are counted.
    result["dict_memory_mb"] = round(_traced(lambda: DictBM25({d: dict(tf) for d, tf in counted.items()})) / 1e6, 1)
    json_path.unlink()
    return result


# --- replicas ------------------------------------------------------------------------------------
def replica_main() -> None:
    """`python -m rag.evaluation.scale replica`: what a fresh app process does before its first
    answer (settings from RAG_* env vars); prints one JSON line."""
    from .. import Assistant
    from .common import rss_mb

    t0 = time.perf_counter()
    bot = Assistant.open(Settings.from_env(), seed=False)
    t1 = time.perf_counter()
    bot.ask("Wer ist der Sprecher des Kremls?")
    t2 = time.perf_counter()
    print(json.dumps({"open_s": round(t1 - t0, 2), "first_answer_s": round(t2 - t0, 2),
                      "peak_rss_mb": rss_mb(), "chunks": bot.store.count(),
                      "bm25_arrays_mb": round(bot.store.lexical.nbytes() / 1e6, 1)}))


def start_replica(url: str, store_dir: Path, collection: str) -> dict:
    env = dict(os.environ, RAG_CHROMA_URL=url, RAG_STORE_DIR=str(store_dir), RAG_COLLECTION=collection,
               PYTHONPATH=str(PROJECT_ROOT))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "rag.evaluation.scale", "replica"], env=env, cwd=PROJECT_ROOT,
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_to_first_answer_s"] = round(time.perf_counter() - t0, 2)
    return result


def refresh_after_writes(writer, reader, articles: list[Path]) -> dict:
    """Replica `writer` ingests then removes each article; `reader` is timed applying it."""
    idle_ms, ingest_ms, remove_ms = [], [], []
    for path in articles:
        t0 = time.perf_counter()
        reader.store.refresh_lexical(force=True)      # nothing new: the cost every search pays
        idle_ms.append((time.perf_counter() - t0) * 1000)
        writer.ingest([path], remove_missing=False)
        t0 = time.perf_counter()
        n = reader.store.refresh_lexical(force=True)
        ingest_ms.append((time.perf_counter() - t0) * 1000)
        assert n > 0, "the reader did not see the ingest"
        writer.remove([str(path.resolve())])
        t0 = time.perf_counter()
        reader.store.refresh_lexical(force=True)
        remove_ms.append((time.perf_counter() - t0) * 1000)
    return {"check_without_change": metrics.latency_summary(idle_ms),
            "after_one_article_ingested": metrics.latency_summary(ingest_ms),
            "after_one_article_removed": metrics.latency_summary(remove_ms)}


def latencies(bot, queries: list[str], answers: int) -> dict:
    """Retrieval alone (query vector precomputed) for every query; search with the query's
    embedding and the full extractive answer for the first `answers` (the model dominates those)."""
    from .. import language

    bot.ask(queries[0])    # loads the language detector
    out: dict[str, list[float]] = {"retrieval_hybrid": [], "retrieval_lexical": [], "retrieval_dense": [],
                                   "search_with_embedding": [], "answer": []}
    for i, q in enumerate(queries):
        qv = bot.embedder.queries([q])[0]
        lang = language.detect(q)
        for mode in ("hybrid", "lexical", "dense"):
            t0 = time.perf_counter()
            bot.retriever.search(q, lang, bot.settings.top_k, mode=mode, query_vector=qv)
            out[f"retrieval_{mode}"].append((time.perf_counter() - t0) * 1000)
        if i >= answers:
            continue
        t0 = time.perf_counter()
        bot.search(q)
        out["search_with_embedding"].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        bot.ask(q)
        out["answer"].append((time.perf_counter() - t0) * 1000)
    return {k: metrics.latency_summary(v) for k, v in out.items() if v}


def queries(n: int) -> list[str]:
    gold = [g.question for g in data.load_gold(data.DEFAULT_GOLD)]
    heads = [" ".join(a.text.split()[:10]) for a in data.load_gnad(limit=400)[::8]]
    return (gold + heads)[:n]


def new_articles(folder: Path, n: int) -> list[Path]:
    """Real article files not in the store (10kGNAD articles beyond those it holds are all in it,
    so these are seed-like texts with a unique first line)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, a in enumerate(data.load_gnad(limit=n)):
        p = folder / f"fresh-{i}.txt"
        p.write_text(f"Frische Meldung {i}: {a.text}", encoding="utf-8")
        out.append(p)
    return out


def run(args) -> dict:
    from .common import open_bot, rss_mb
    from ..embedding import Embedder

    work = Path(args.work).resolve()
    chroma_dir = work / "chroma"
    embedder = Embedder(Settings.from_env())
    result: dict = {"chunks_target": args.chunks, "vectors": "seed articles: real e5 embeddings; "
                    "10kGNAD articles and generated variants: random unit vectors"}
    server, url = start_server(chroma_dir)
    try:
        common = dict(chroma_url=url, collection=args.collection)
        log(f"building the store at {chroma_dir} up to {args.chunks} chunks")
        writer = open_bot(work / "writer", embedder, **common)
        result["build"] = build_store(writer, args.chunks)
        log(f"store: {result['build']}")
        qs = queries(args.queries)
        if "bm25" not in args.skip:
            log("BM25: numpy index next to the dict index")
            result["bm25"] = compare_indexes(writer.store, qs, work)
        for label in ("cold", "warm"):     # warm: the replica's cache file from the cold start exists
            if label in args.skip:
                continue
            log(f"start a fresh replica process ({label})")
            result[f"start_{label}"] = start_replica(url, work / "replica-start", args.collection)
        log("refresh after another replica's writes")
        t0 = time.perf_counter()
        reader = open_bot(work / "reader", embedder, lexical_refresh_seconds=0, **common)
        result["reader_open_in_process_s"] = round(time.perf_counter() - t0, 2)
        if "refresh" not in args.skip:
            result["refresh"] = refresh_after_writes(writer, reader, new_articles(work / "fresh", args.refreshes))
        log("latency")
        result["latency_refresh_every_search"] = latencies(reader, qs, args.answers)
        reader.settings.lexical_refresh_seconds = 1.0     # the default
        result["latency_refresh_every_1s"] = latencies(reader, qs, 0)
        result["bench_process_peak_rss_mb"] = rss_mb()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["replica"]:
        replica_main()
        return 0
    p = argparse.ArgumentParser(prog="python -m rag.evaluation.scale", description=__doc__.split("\n\n")[0])
    p.add_argument("--chunks", type=int, default=100_000)
    p.add_argument("--work", default=str(PROJECT_ROOT / ".cache" / "scale"), help="store and caches (reused)")
    p.add_argument("--collection", default="scale")
    p.add_argument("--queries", type=int, default=40)
    p.add_argument("--answers", type=int, default=10, help="queries also answered in full")
    p.add_argument("--refreshes", type=int, default=5)
    p.add_argument("--skip", default="", help="comma-separated parts to leave out: bm25, cold, warm, refresh")
    p.add_argument("--out", default="", help="also write the JSON result here")
    args = p.parse_args(argv)
    args.skip = {x.strip() for x in args.skip.split(",") if x.strip()}
    result = run(args)
    text = json.dumps(result, ensure_ascii=False, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
