"""results.json -> report.md plus PNG plots (matplotlib, headless)."""
from __future__ import annotations

import json
from pathlib import Path

LABELS = {
    "bm25": "BM25 only (German)",
    "dense": "dense only (e5-small)",
    "hybrid": "**this project (hybrid)**",
    "llamaindex-default": "llama-index default (top-k 2)",
}
ORDER = ["bm25", "dense", "hybrid", "llamaindex-default"]
LANG = {"de": "de→de", "en": "en→de"}


def label(retriever: str) -> str:
    if retriever in LABELS:
        return LABELS[retriever]
    if retriever.startswith("llamaindex-k"):
        return f"llama-index, similarity_top_k={retriever[len('llamaindex-k'):]}"
    return retriever


def _order(retriever: str) -> int:
    return ORDER.index(retriever) if retriever in ORDER else len(ORDER)


def pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def num(x, digits: int = 1) -> str:
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --- plots ------------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_recall(runs: list[dict], corpus: str, path: Path) -> Path:
    plt = _plt()
    langs = sorted({r["lang"] for r in runs})
    fig, axes = plt.subplots(1, len(langs), figsize=(5.5 * len(langs), 4), sharey=True, squeeze=False)
    for ax, lang in zip(axes[0], langs):
        for r in sorted((r for r in runs if r["lang"] == lang), key=lambda r: _order(r["retriever"])):
            ks = list(range(1, len(r["curve"]) + 1))
            style = "-o" if r["retriever"] == "hybrid" else "--." if r["retriever"].startswith("llama") else "-."
            ax.plot(ks, [100 * v for v in r["curve"]], style, label=label(r["retriever"]).strip("*"),
                    linewidth=2.2 if r["retriever"] == "hybrid" else 1.3)
        ax.set_title(f"{LANG.get(lang, lang)} questions, corpus: {corpus}")
        ax.set_xlabel("k (distinct paragraphs)")
        ax.set_xticks(range(1, 11))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("recall@k (%)")
    axes[0][-1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency(stages: list[dict], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    xs = [s["chunks"] for s in stages]
    for key, name in (("search", "retrieval"), ("ask", "full answer")):
        for p, style in (("p50_ms", "-o"), ("p95_ms", "--o")):
            ax.plot(xs, [s[key][p] for s in stages], style, label=f"{name} {p[:3]}")
    for s in stages:
        ax.annotate(s["label"], (s["chunks"], s["ask"]["p95_ms"]), fontsize=7, textcoords="offset points",
                    xytext=(0, 6), ha="center")
    ax.set_xscale("log")
    ax.set_xlabel("chunks in the store (log scale)")
    ax.set_ylabel("latency per question (ms)")
    ax.set_title("Latency versus corpus size (extractive mode)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- sections ---------------------------------------------------------------------------------
def _run(runs: list[dict], corpus: str, retriever: str, lang: str) -> dict | None:
    return next((r for r in runs if r["corpus"] == corpus and r["retriever"] == retriever
                 and r["lang"] == lang), None)


def retrieval_table(runs: list[dict], corpus: str) -> str:
    rows = []
    for r in sorted((r for r in runs if r["corpus"] == corpus),
                    key=lambda r: (_order(r["retriever"]), r["retriever"], r["lang"])):
        lat = r["latency"]
        rows.append([label(r["retriever"]), LANG.get(r["lang"], r["lang"]), pct(r.get("R@1")),
                     pct(r.get("R@2")), pct(r.get("R@5")), pct(r.get("R@10")), pct(r.get("MRR@10")),
                     pct(r.get("nDCG@10")), num(lat["p50_ms"]), num(lat["p95_ms"]), r["n"]])
    return table(["retriever", "questions", "R@1", "R@2", "R@5", "R@10", "MRR@10", "nDCG@10",
                  "p50 ms", "p95 ms", "n"], rows)


def verdicts(runs: list[dict]) -> list[str]:
    """The issue's acceptance comparisons, stated plainly from the numbers."""
    out = []
    for corpus in dict.fromkeys(r["corpus"] for r in runs):
        for lang in ("de", "en"):
            h = _run(runs, corpus, "hybrid", lang)
            d = _run(runs, corpus, "dense", lang)
            peer = _run(runs, corpus, "llamaindex-default", lang)
            peer10 = next((r for r in runs if r["corpus"] == corpus and r["lang"] == lang
                           and r["retriever"].startswith("llamaindex-k")), None)
            if not h:
                continue
            parts = []
            if d:
                ok = h["nDCG@10"] >= d["nDCG@10"] - 1e-9
                parts.append(f"{'✅' if ok else '❌'} vs dense only: nDCG@10 {pct(h['nDCG@10'])} vs "
                             f"{pct(d['nDCG@10'])}, R@5 {pct(h['R@5'])} vs {pct(d['R@5'])}")
            if peer:
                ok = h["R@1"] > peer["R@1"] and h.get("R@2", 0) >= peer.get("R@2", 0)
                parts.append(f"{'✅' if ok else '❌'} vs llama-index default: R@1 {pct(h['R@1'])} vs "
                             f"{pct(peer['R@1'])}, R@2 {pct(h.get('R@2'))} vs {pct(peer.get('R@2'))}")
            if peer10:
                ok = h["nDCG@10"] > peer10["nDCG@10"]
                parts.append(f"{'✅' if ok else '❌'} vs llama-index at k={peer10['k']}: nDCG@10 "
                             f"{pct(h['nDCG@10'])} vs {pct(peer10['nDCG@10'])}")
            out.append(f"- **{corpus}, {LANG[lang]}**: " + "; ".join(parts))
    return out


def answer_table(runs: list[dict]) -> str:
    rows = []
    for r in runs:
        s = r["summary"]
        ab = s["abstention"]
        rows.append([r["dataset"], r["mode"], s["n"], pct(s["contains"]), pct(s["f1"]),
                     pct(s["citation_precision"]), pct(s["citation_recall"]), pct(s["language_match"]),
                     pct(ab["precision"]), pct(ab["recall"]), pct(s["false_abstention_rate"]),
                     pct(s.get("generated")) if r["mode"] == "llm" else "–",
                     num(s["latency"]["p50_ms"], 0), num(s["latency"]["p95_ms"], 0)])
    return table(["dataset", "mode", "n", "contains gold", "F1 (1st sentence)", "citation P",
                  "citation R", "language match", "abstention P", "abstention R", "false abstentions",
                  "LLM answer kept", "p50 ms", "p95 ms"], rows)


def word_for_word_lines(runs: list[dict]) -> list[str]:
    """What the word-for-word English after German quotes adds to *contains gold*: the runs where
    leaving it out changes the figure (English questions with the dictionary installed)."""
    changed = [(r["dataset"], r["mode"], r["summary"]["contains"], r["summary"]["contains_without_glosses"])
               for r in runs if r["summary"].get("contains_without_glosses") is not None
               and abs(r["summary"]["contains"] - r["summary"]["contains_without_glosses"]) > 1e-9]
    if not changed:
        return []
    return [f"\n*Word for word*: an English answer gives each German quote's words in English after "
            f"it (\"(word for word: “…”)\"), and *contains gold* counts them. Without them: "
            + "; ".join(f"{d} {m} {pct(without)} (with them {pct(with_)})" for d, m, with_, without in changed)
            + ". F1 reads the short answer only, which they do not change."]


def words_left_german_lines(left: dict) -> list[str]:
    """How much German the word-for-word English leaves (answer_eval.words_left_german)."""
    parts = [f"{split} articles {pct(v['left'])} of {v['words']:,}" for split, v in sorted(left.items())
             if v.get("left") is not None]
    if not parts:
        return []
    return [f"\n*Left German*: of the lower-case words of every German sentence of the XQuAD articles, the "
            f"share its word-for-word English keeps as written (no common English word; conjugated verbs "
            f"the dictionary lacks, rare words): " + "; ".join(parts) + ". Names and other capitalised "
            f"words are not counted: names stay by design."]


def fallbacks(records: list[dict]) -> str:
    """Why LLM answers were replaced by extractive ones, most frequent first."""
    from collections import Counter

    reasons = Counter(x.get("notice") or "(no notice)" for x in records
                      if not x.get("error") and not str(x.get("mode", "")).startswith("llm"))
    if not reasons:
        return "Every answer is the LLM's own (verified)."
    n = sum(reasons.values())
    return (f"{n} of {len(records)} answers fell back to the extractive answer: "
            + "; ".join(f"{count} × “{_clip(why, 120)}”" for why, count in reasons.most_common(5)))


def breakdown_table(run: dict, key: str) -> str:
    rows = []
    for name, s in run[key].items():
        ab = s["abstention"]
        rows.append([name, s["n"], pct(s["contains"]), pct(s["citation_precision"]),
                     pct(s["citation_recall"]), pct(s["language_match"]), pct(ab["precision"]),
                     pct(ab["recall"]), pct(s["false_abstention_rate"])])
    return table([key.replace("by_", ""), "n", "contains gold", "citation P", "citation R",
                  "language match", "abstention P", "abstention R", "false abstentions"], rows)


def _clip(text: str, n: int = 160) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= n else text[: n - 1] + "…"


def failures(records: list[dict], limit: int = 40) -> str:
    rows = []
    for x in records:
        problems = []
        if x.get("error"):
            problems.append("error: " + x["error"])
        if x["answerable"] and x["abstained"]:
            problems.append("abstained")
        elif x["answerable"] and not x["contains"]:
            problems.append("gold answer missing")
        if not x["answerable"] and not x["abstained"]:
            problems.append("should abstain")
        if x["answerable"] and not x["abstained"] and x["citation_precision"] is not None \
                and x["citation_precision"] < 1:
            problems.append("cites a non-gold source")
        if not x["lang_ok"]:
            problems.append(f"answer language {x['answer_lang']}")
        if problems:
            rows.append([x["id"], x["lang"], _clip(x["question"], 80), "; ".join(problems),
                         _clip(" / ".join(x["gold_answers"]) or "(abstain)", 40), _clip(x["answer"])])
    if not rows:
        return "No failures."
    more = f"\n\n({len(rows) - limit} more in results.json)" if len(rows) > limit else ""
    return table(["id", "lang", "question", "problem", "gold", "answer"], rows[:limit]) + more


def cleaning_check(losses: list[dict]) -> list[str]:
    """The 10kGNAD articles the boilerplate rules cut, those losing more than
    CLEANING_LOSS_WARN of their text by name: a rule eating article text shows up here."""
    from ..results import CLEANING_LOSS_WARN

    if not losses:
        return ["\nCleaning check: the boilerplate rules remove no text from any 10kGNAD article."]
    heavy = [x for x in losses if x.get("share", 0) > CLEANING_LOSS_WARN]
    line = f"\nCleaning check: the boilerplate rules remove text from {len(losses)} 10kGNAD article(s)"
    if heavy:
        line += (f"; {len(heavy)} lose more than {CLEANING_LOSS_WARN:.0%} of their text: "
                 + ", ".join(f"{x['doc']} ({x['share']:.0%}, {x['chars_lost']:,} chars)" for x in heavy))
    return [line + "."]


def bench_section(b: dict, out: Path) -> list[str]:
    lines = []
    t, c = b["throughput"], b["embedding_ceiling"]
    lines.append("10kGNAD articles are written one file each, the teaser sentence on its own first line as "
                 "the headline.\n")
    rows = [[f"ingest {s['articles']:,} 10kGNAD articles into a fresh store (clean, chunk, embed, Chroma, BM25)",
             s["articles"], s["chunks"], num(s["seconds"]), num(s["articles"] / s["seconds"], 2) if s["seconds"] else "–",
             num(s["chunks"] / s["seconds"], 2) if s["seconds"] else "–"]
            for s in sorted(b["ingest"], key=lambda s: -s["articles"])]
    lines.append(table(["what", "articles", "chunks", "seconds", "articles/s", "chunks/s"], rows + [
        [f"embedding model alone (batch {c['batch_size']}, "
         + (f"every n-th of the {c['of_chunks']:,} chunks ingested)" if c.get("of_chunks") else "same chunk texts)"),
         "–", c["chunks"],
         num(c["seconds"]), "–", num(c["chunks_per_s"], 2)],
    ]))
    if t["chunks_per_s"] and c["chunks_per_s"]:
        lines.append(f"\nIngest ran at {100 * t['chunks_per_s'] / c['chunks_per_s']:.0f}% of the embedding "
                     f"model's own throughput measured separately (mean chunk {c['mean_chars']} characters).")
    if t.get("cpu_ratio"):
        lines.append(f"In CPU time per chunk (all threads of the process), ingest ran at {100 * t['cpu_ratio']:.0f}% "
                     f"of the model alone: the ratio that load from other work on the machine changes least.")
    if t.get("embed_share") is not None:
        lines.append(f"Inside ingest, the model's embedding calls took {100 * t['embed_share']:.0f}% of the "
                     f"time ({num(t['embed_seconds'])} of {num(t['seconds'])} s): the share that does not "
                     f"depend on how busy the machine was. The rest is reading, cleaning, chunking, Chroma "
                     f"and BM25.")
    lines += cleaning_check(b.get("cleaning_losses") or [])
    for step in b["ingest"]:
        if step["failed"]:
            lines.append(f"\n{step['failed']} article(s) not ingested: " + "; ".join(step["failed_files"]))
    lines.append("\n**Latency by corpus size** (hybrid retrieval, extractive answers; "
                 f"{b.get('latency_questions', '')}, asked on the stores in turn so that load from other "
                 f"work hits all sizes alike):\n")
    rows = [[s["label"], s["articles"], s["chunks"], num(s["search"]["p50_ms"]), num(s["search"]["p95_ms"]),
             num(s["ask"]["p50_ms"]), num(s["ask"]["p95_ms"])] for s in b["stages"]]
    lines.append(table(["corpus", "articles", "chunks", "retrieval p50 ms", "retrieval p95 ms",
                        "answer p50 ms", "answer p95 ms"], rows))
    plot_latency(b["stages"], out / "latency_vs_size.png")
    lines.append("\n![latency versus corpus size](latency_vs_size.png)\n")
    if b.get("backends"):
        lines += backends_section(b["backends"])
    cs = b["cold_start"]
    if "error" in cs:
        lines.append(f"Cold start failed: {cs['error']}")
    else:
        lines.append(f"**Cold start to first answer** (a fresh `{cs['command']}` process on the largest store): "
                     f"median {cs['first_answer_median_ms'] / 1000:.1f} s over {cs['runs']} runs "
                     f"({', '.join(f'{x / 1000:.1f}' for x in cs['first_answer_ms'])} s).")
        lines.append(f"\n**Peak RSS**: {num(cs['peak_rss_mb'], 0)} MB for the `rag ask` process on the largest "
                     f"store; {num(b['peak_rss_mb'], 0)} MB for the benchmark process after ingesting "
                     f"{t['articles']:,} articles (model, Chroma and BM25 in one process).")
    lines += first_answers_section(b.get("first_answers"))
    return lines


def first_answers_section(fa: dict | None) -> list[str]:
    """The app's first answer after start, warmed up as the app is and as a one-shot question is."""
    if not fa:
        return []
    if "error" in fa:
        return [f"\nFirst answer after start failed: {fa['error']}"]
    rows = [[lang, r["question"], r["runs"], num(r["reader_median_ms"], 0), num(r["everything_median_ms"], 0),
             num(r["ratio"], 2)] for lang, r in fa.items()]
    return ["\n**First answer after start** (seed store; a fresh process warms up, waits for it, then answers one "
            "question; medians): warmed up as the app is (`Assistant.warm_up(everything=True)`: the reader, "
            "the dictionary, the language detector and word frequencies) or only the reader (a one-shot question).\n",
            table(["question language", "question", "runs", "reader only ms", "everything ms", "ratio"], rows)]


def backends_section(rows: list[dict]) -> list[str]:
    """Embedding backends side by side, with each one's ratio to the first (the baseline)."""
    base = rows[0]

    def ratio(row, get, faster_is_higher=True):
        a, b = get(row), get(base)
        if not a or not b:
            return num(a)
        return f"{num(a)} ({(a / b if faster_is_higher else b / a):.1f}x)"

    table_rows = [[r["backend"], ratio(r, lambda x: x["model"]["chunks_per_s"]),
                   ratio(r, lambda x: x["ingest"]["chunks_per_s"]),
                   f"{100 * r['ingest']['chunks_per_s'] / r['model']['chunks_per_s']:.0f}%"
                   if r["ingest"]["chunks_per_s"] and r["model"]["chunks_per_s"] else "–",
                   f"{100 * r['cpu_ratio']:.0f}%" if r.get("cpu_ratio") else "–",
                   ratio(r, lambda x: x["query_embedding"]["p50_ms"], False),
                   ratio(r, lambda x: x["answer"]["p50_ms"], False),
                   ratio(r, lambda x: x["cold_start"].get("first_answer_median_ms"), False),
                   num(r["cold_start"].get("peak_rss_mb"), 0)] for r in rows]
    ing = base["ingest"]
    return ["\n**Embedding backends side by side** (same run; ingest of seeds + "
            f"{ing['articles']:,} 10kGNAD articles into a fresh store each; ratios to {base['backend']} "
            "in brackets, which hold on a busy machine where the absolute numbers do not):\n",
            table(["backend", "model chunks/s", "ingest chunks/s", "ingest / model", "ingest / model (CPU time)",
                   "query embedding p50 ms",
                   "extractive answer p50 ms", "cold start to first answer ms", "peak RSS MB (rag ask)"],
                  table_rows), ""]


def _meta_line(meta: dict) -> str:
    env = meta.get("environment", {})
    return (f"`{meta.get('command', '')}` — {meta.get('started', '')} to {meta.get('finished', '')}, "
            f"commit {env.get('git_commit', '?')}{' (uncommitted changes)' if env.get('git_dirty') else ''}, "
            f"{env.get('cpus', '?')} CPUs, load {env.get('load_average', '?')}"
            + (f", embedding {env['embedding_backend']}" if env.get("embedding_backend") else ""))


def render(results: dict, out: Path) -> str:
    lines = ["# Evaluation report", ""]
    metas = [(k, results[k]["meta"]) for k in ("bench", "retrieval", "answers", "claims") if k in results]
    if metas:
        lines.append("Produced by (one line per part; parts may come from different runs):\n")
        lines += [f"- {k}: {_meta_line(m)}" for k, m in metas]
        lines.append("")
    if results.get("retrieval"):
        lines += retrieval_section(results["retrieval"], out) + [""]
    if results.get("answers"):
        lines += answers_section(results["answers"]) + [""]
    if results.get("claims"):
        from .claims_eval import report_lines

        lines += report_lines(results["claims"])
    b = results.get("bench")
    if b:
        lines += ["## 3. Speed and memory", ""]
        lines += bench_section(b, out)
        lines.append("")
    if results.get("settings"):
        lines += settings_section(results["settings"], metas)
    return "\n".join(lines)


def _split_words(split: str) -> str:
    return "" if split == "all" else f", of the {split} articles only (docs/eval.md, \"Dev and test\")"


def retrieval_section(ret: dict, out: Path) -> list[str]:
    lines = ["## 1. Retrieval on XQuAD", ""]
    q = ret["questions"]
    lines.append(f"Corpus: the 240 German XQuAD paragraphs, one file each (title line + paragraph). "
                 f"Questions: {q.get('de', 0)} German (de→de) and {q.get('en', 0)} English (en→de, same "
                 f"ids){' — a fixed subset' if ret.get('question_ids') != 'all' else ''}"
                 f"{_split_words(ret.get('split', 'all'))}. "
                 f"Every retriever returns k={ret['k']} passages; passages are mapped to their paragraph "
                 f"and a paragraph counts once, at its best rank. Latency is per question and includes "
                 f"embedding the question.")
    losses = ret.get("cleaning_losses", [])
    lines.append("\nCleaning check: " + ("no XQuAD paragraph loses text to the boilerplate rules."
                                         if not losses else f"{len(losses)} paragraph(s) lose text: "
                                         + ", ".join(f"{x['doc']} ({x['chars_lost']} chars)" for x in losses)))
    lines.append("\n**Acceptance comparisons** (this project's hybrid retrieval):\n")
    lines += verdicts(ret["runs"])
    for corpus, info in ret["corpora"].items():
        lines += corpus_section(ret, corpus, info, out)
    return lines


def corpus_section(ret: dict, corpus: str, info: dict, out: Path) -> list[str]:
    lines = ["", f"### Corpus: {corpus} ({info['documents']:,} documents, {info['chunks']:,} chunks)", ""]
    if info.get("failed"):
        lines.append(f"Not ingested: {len(info['failed'])} file(s): " + "; ".join(info["failed"][:5]) + "\n")
    if corpus == "xquad-in-articles":
        lines.append("Each paragraph, under its title line, is appended to the end of a different "
                     "10kGNAD article (the first 240 in file order), so the answer sits deep inside a long "
                     "news article, after a median of "
                     f"{info.get('median_chars_before_paragraph', 0):,} characters of unrelated text. "
                     "Neutral file names, as with the distractors.\n")
    elif corpus != "xquad":
        lines.append("The paragraphs and the distractor articles sit in one folder under neutral file "
                     "names: llama-index embeds each file's path with its text, and names such as "
                     "`xquad-de/03-02.txt` next to `10kgnad/gnad-0001.txt` would tell it which documents "
                     "are paragraphs (see docs/eval.md).\n")
    if ret.get("questions_" + corpus):
        nq = ret["questions_" + corpus]
        lines.append(f"Questions: a fixed subset of {nq.get('de', 0)} German and {nq.get('en', 0)} English "
                     f"questions.\n")
    lines.append(retrieval_table(ret["runs"], corpus))
    if "peer" in info:
        p = info["peer"]
        lines.append(f"\nPeer: `SimpleDirectoryReader` → `VectorStoreIndex.from_documents` with llama-index's "
                     f"default {p['splitter']} (chunk_size {p['chunk_size']} tokens, overlap "
                     f"{p['chunk_overlap']}) → {p['nodes']:,} nodes; `as_retriever()` default "
                     f"similarity_top_k={p['default_similarity_top_k']}, so its R@5 and beyond are not "
                     f"defined; the k=10 row is `as_retriever(similarity_top_k=10)`. Same model "
                     f"(`HuggingFaceEmbedding`, e5 prompts set, max_seq_length {p['max_seq_length']}); "
                     f"index built in {p['build_s']} s.")
        if "nodes_truncated" in p:
            lines.append(f"{p['nodes_truncated']:,} of its {p['nodes']:,} nodes are longer than the model's "
                         f"{p['max_seq_length']}-token window (the splitter counts tiktoken tokens, the model "
                         f"its own), so {pct(p['chars_not_embedded'])} % of the peer's text is cut off "
                         f"before embedding and cannot be found.")
    runs = [r for r in ret["runs"] if r["corpus"] == corpus]
    name = f"recall_at_k_{corpus.replace('+', '_')}.png"
    plot_recall(runs, corpus, out / name)
    lines.append(f"\n![recall@k, {corpus}]({name})")
    return lines


def answers_section(ans: dict) -> list[str]:
    lines = ["## 2. Answers", ""]
    lines.append(f"Gold set `{ans['gold_file']}` over `{ans['articles']}`; XQuAD answer spans of the "
                 f"test articles only, on a store without the held-out test paragraphs (questions about "
                 f"those are the unanswerable rows; docs/eval.md, \"Dev and test\"). Modes: "
                 f"{', '.join(ans['modes'])} (extractive = the learned reader, baseline = the hand-tuned "
                 f"one it replaced). *contains gold*: the answer "
                 f"contains a gold answer after folding case, diacritics, hyphens and the name spellings "
                 f"in rag/evaluation/names.tsv (answerable questions; an abstention counts as a miss). "
                 f"*F1*: SQuAD token F1 of the answer's first sentence. *Citation P*: cited articles that "
                 f"are gold sources (answered questions); *citation R*: a gold source cited (all of them "
                 f"for multi-article questions). *Language match*: the answer's own words (quotes "
                 f"removed) are in the question's language. Abstention P/R: abstaining is the positive "
                 f"class.\n")
    lines.append(answer_table(ans["runs"]))
    # Only where it is below 100 (questions in another language than the articles').
    for dataset, c in sorted(ans.get("ceilings", {}).items()):
        if (c["f1"] or 0) >= 0.9995:
            continue
        lines.append(f"\n*Ceiling, {dataset}*: the German gold answer span itself, shaped as the reader "
                     f"shapes short answers for this language (dates and numbers rendered, other words "
                     f"glossed word by word, or a dictionary phrase whole, where the dictionary is "
                     f"installed), scores contains "
                     f"{pct(c['contains'])}, F1 {pct(c['f1'])} against these questions' gold answers "
                     f"(n = {c['n']}): about the most a reader quoting German articles can reach "
                     f"without a translation model.")
    lines.extend(word_for_word_lines(ans["runs"]))
    lines.extend(words_left_german_lines(ans.get("words_left_german", {})))
    if any(run["mode"] == "llm" for run in ans["runs"]):
        lines.append("\n*LLM answer kept*: share of answers in LLM mode that are the model's own; the rest "
                     "failed a check (citations, language, time) and were replaced by the extractive answer.")
    for run in ans["runs"]:
        if run["mode"] == "llm":
            lines.append(f"\n{run['dataset']}, llm: "
                         + fallbacks(ans["records"][f"{run['dataset']}/{run['mode']}"]))
    for run in ans["runs"]:
        if run["dataset"].startswith("gold"):
            lines += ["", f"### {run['dataset']}, {run['mode']}: by language", "",
                      breakdown_table(run, "by_lang"), "", f"### {run['dataset']}, {run['mode']}: by kind of question", "",
                      breakdown_table(run, "by_category"), "", f"### {run['dataset']}, {run['mode']}: failures", "",
                      failures(ans["records"][f"{run['dataset']}/{run['mode']}"])]
    return lines


def settings_section(settings: dict, metas: list) -> list[str]:
    lines = ["## Settings", "", "Library settings in effect (`rag/settings.py`, `RAG_*` overrides):", "",
              "```json", json.dumps(settings, indent=1, ensure_ascii=False), "```", ""]
    env = next((m["environment"] for _, m in metas), None)
    if env:
        lines += ["Environment:", "", "```json", json.dumps(env, indent=1), "```", ""]
    return lines


def write(out: Path, results: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.md"
    path.write_text(render(results, out), encoding="utf-8")
    return path
