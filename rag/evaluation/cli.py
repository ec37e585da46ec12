"""python -m rag.evaluation [all|retrieval|answers|claims|bench|report] [options]  (load: see load.py)

Writes <out>/results.json, <out>/report.md and PNG plots. Parts can be run separately; each part
replaces its own section of results.json and the report is rebuilt from whatever is there."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from ..results import RagError
from ..settings import PROJECT_ROOT, Settings
from . import data
from .common import environment, log, open_bot, public_settings, sync_corpus

PARTS = ("bench", "retrieval", "answers", "claims")   # bench first: its peak RSS must not include the peer


def parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("part", nargs="?", default="all", choices=("all",) + PARTS + ("report",),
                   help="what to run; 'report' only rebuilds report.md from results.json")
    p.add_argument("--out", default="eval-out", help="output folder (corpora, stores, results, report)")
    p.add_argument("--quick", action="store_true",
                   help="the CI-sized subset: 150 XQuAD questions per language, no distractors, "
                        "50 XQuAD answer questions per language, no benchmark")
    p.add_argument("--xquad", default=str(data.DEFAULT_XQUAD), help="folder with xquad.de.json and xquad.en.json")
    p.add_argument("--gnad", default=str(data.DEFAULT_GNAD), help="10kGNAD test.csv (distractors, benchmark)")
    p.add_argument("--questions", type=int, default=None,
                   help="XQuAD questions per language for retrieval (default: all 1,190)")
    p.add_argument("--k", type=int, default=10, help="passages per question for retrieval")
    p.add_argument("--split", default="all", choices=("all", "dev", "test"),
                   help="retrieval: the XQuAD questions of these articles only (docs/eval.md, 'Dev and test')")
    p.add_argument("--no-distractors", action="store_true", help="skip retrieval with 10kGNAD distractors")
    p.add_argument("--no-in-articles", action="store_true",
                   help="skip retrieval with each XQuAD paragraph placed at the end of a 10kGNAD article")
    p.add_argument("--distractor-questions", type=int, default=400,
                   help="XQuAD questions per language for the runs with distractors and with paragraphs "
                        "inside articles (a fixed subset)")
    p.add_argument("--no-peer", action="store_true", help="skip the llama-index baseline")
    p.add_argument("--gold", default=None, help="gold JSONL file (default: eval/gold/seeds-test.jsonl, the test half of the seed gold set)")
    p.add_argument("--articles", default=None,
                   help="folder with the gold file's articles (default: the seed articles)")
    p.add_argument("--answer-questions", type=int, default=200,
                   help="XQuAD questions per language for answer quality (0 = none)")
    p.add_argument("--llm-answer-questions", type=int, default=50,
                   help="the same for the LLM mode, which is much slower")
    p.add_argument("--modes", default="auto",
                   help="answer modes, comma-separated: extractive (learned reader), baseline (the hand-tuned "
                        "reader it replaced), unglossed (the learned reader without the dictionary), llm "
                        "(auto: extractive and baseline, llm too when configured)")
    p.add_argument("--claim-paragraphs", type=int, default=0,
                   help="claims benchmark: the first N paragraphs of each XQuAD article (0 = all)")
    p.add_argument("--sizes", default="200,1028", help="benchmark corpus sizes in 10kGNAD articles")
    p.add_argument("--cold-runs", type=int, default=3, help="cold-start runs")
    p.add_argument("--backends", default="torch,auto",
                   help="embedding backends measured side by side at the largest size ('' = none)")
    p.add_argument("--latency-questions", type=int, default=None,
                   help="seed gold questions timed at each corpus size (default: all)")
    return p


def _prog() -> str:
    main_file = Path(sys.argv[0]).as_posix() if sys.argv and sys.argv[0] else ""
    return "python -m rag eval" if main_file.endswith("rag/__main__.py") else "python -m rag.evaluation"


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = prog or _prog()
    try:
        if argv[:1] == ["load"]:   # many users against the running app; its own options
            from .load import main as load

            return load(argv[1:], prog=f"{prog} load")
        args = parser(prog).parse_args(argv)
        return run(args, f"{prog} {shlex.join(argv)}".strip())
    except RagError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted; results so far are in the output folder.", file=sys.stderr)
        return 130


class Run:
    """State shared by the parts of one invocation: output folder, model, corpora."""

    def __init__(self, args, command: str):
        self.args, self.command = args, command
        self.out = Path(args.out).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.results_path = self.out / "results.json"
        self.results = _load(self.results_path)
        self._embedder = None
        self._xquad = None
        self._gnad = None

    @property
    def embedder(self):
        if self._embedder is None:
            from ..embedding import Embedder

            log("loading the embedding model")
            self._embedder = Embedder(Settings.from_env())
        return self._embedder

    @property
    def xquad(self) -> data.XQuad:
        if self._xquad is None:
            self._xquad = data.load_xquad(self.args.xquad)
        return self._xquad

    def xquad_files(self) -> list[Path]:
        folder = self.out / "corpus" / "xquad-de"
        data.write_notice(folder, data.XQUAD_NOTICE, Path(self.args.xquad) / "CC-BY-SA4.0.txt")
        return data.write_corpus(folder, data.xquad_docs(self.xquad.paragraphs))

    @property
    def gnad(self) -> list[data.GnadArticle]:
        if self._gnad is None:
            self._gnad = data.load_gnad(self.args.gnad)
        return self._gnad

    def _mixed_corpus(self, name: str, docs: dict[str, str]) -> dict[str, Path]:
        """Documents of both data sets in one folder under neutral names (data.opaque_name), with
        both licence notices; returns {document id: file}."""
        folder = self.out / "corpus" / name
        data.write_notice(folder, data.GNAD_NOTICE + "\n" + data.XQUAD_NOTICE,
                          Path(self.args.xquad) / "CC-BY-SA4.0.txt")
        paths = data.write_corpus(folder, {data.opaque_name(k): v for k, v in docs.items()})
        by_name = {p.stem: p for p in paths}
        return {k: by_name[data.opaque_name(k)] for k in docs}

    def news_files(self) -> dict[str, Path]:
        """XQuAD paragraphs and 10kGNAD articles, keyed by document id in 10kGNAD order, then XQuAD order."""
        docs = dict(data.gnad_docs(self.gnad))
        docs.update(data.xquad_docs(self.xquad.paragraphs))
        return self._mixed_corpus("news", docs)

    def gnad_files(self) -> list[Path]:
        files = self.news_files()
        return [files[a.id] for a in self.gnad]

    def seed_files(self) -> list[Path]:
        from ..loading import discover

        return discover([Settings.from_env().seeds_dir])[0]

    def section_meta(self) -> dict:
        return {"command": self.command, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                "environment": environment()}

    def save(self, part: str, section: dict) -> None:
        section["meta"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        self.results[part] = section
        self.results["settings"] = public_settings(Settings.from_env())
        tmp = self.results_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.results, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(self.results_path)


def _load(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise RagError(f"'{path}' is not valid JSON; move it away or choose another --out.") from None


def run(args, command: str) -> int:
    if args.quick:
        args.questions = args.questions or 150
        args.no_distractors = True
        args.no_in_articles = True
        args.answer_questions = min(args.answer_questions, 50)
    if (args.articles is None) != (args.gold is None) and args.articles is not None:
        raise RagError("--articles needs --gold: the gold file says which of the articles answer what.")
    r = Run(args, command)
    parts = [p for p in PARTS if args.part in ("all", p)]
    if args.quick and args.part == "all":
        parts = [p for p in parts if p != "bench"]
    failed = []
    for part in parts:
        log(f"=== {part}")
        try:
            {"bench": run_bench, "retrieval": run_retrieval, "answers": run_answers,
             "claims": run_claims}[part](r)
        except RagError:
            raise
        except Exception:   # one broken part must not throw away hours of the others' results
            import traceback

            traceback.print_exc()
            log(f"{part} failed; the other parts go on (details above)")
            failed.append(part)
    from . import report

    path = report.write(r.out, r.results)
    log(f"report: {path}")
    print(path)
    if failed:
        print(f"Error: the {', '.join(failed)} part(s) failed; see the log above.", file=sys.stderr)
        return 1
    return 0


# --- parts ------------------------------------------------------------------------------------
def run_bench(r: Run) -> None:
    from . import bench

    from ..embedding import choose_backend

    sizes = tuple(int(x) for x in r.args.sizes.split(",") if x.strip())
    backends = [b.strip() for b in r.args.backends.split(",") if b.strip()]
    for b in backends:   # a typo fails now, not after an hour of benchmarking
        choose_backend(Settings.from_env(embedding_backend=b))
    meta = r.section_meta()
    questions = [g.question for g in data.load_gold(data.DEFAULT_GOLD)][:r.args.latency_questions]
    section = bench.run(r.out, r.embedder, r.seed_files(), r.gnad_files(), questions, sizes, r.args.cold_runs)
    if backends and sizes:
        section["backends"] = bench.compare_backends(r.out, r.embedder, backends, r.seed_files(), r.gnad_files(),
                                                     questions, max(sizes), r.args.cold_runs)
    section["meta"] = meta
    section["cleaning_losses"] = data.cleaning_losses(data.gnad_docs(r.gnad))
    section["latency_questions"] = f"the {len(questions)} seed gold questions ({data.DEFAULT_GOLD.name})"
    r.save("bench", section)


def run_retrieval(r: Run) -> None:
    from . import retrieval_eval
    from ..embedding import resolve_model

    args = r.args
    meta = r.section_meta()
    xq = r.xquad
    of_split = {lang: [q for q in qs if args.split in ("all", data.split_of(q))] for lang, qs in xq.questions.items()}
    questions = {lang: data.subset(qs, args.questions) for lang, qs in of_split.items()}
    xfiles = r.xquad_files()
    docs = data.xquad_docs(xq.paragraphs)
    section: dict = {"meta": meta, "k": args.k, "split": args.split,
                     "questions": {lang: len(qs) for lang, qs in questions.items()},
                     "question_ids": {lang: [q.id for q in qs] for lang, qs in questions.items()}
                     if args.questions else "all",
                     "cleaning_losses": data.cleaning_losses(docs), "corpora": {}, "runs": [],
                     "per_query": {}}
    # (corpus, store, {document id: file}); file stems map back to ids where names are neutral.
    corpora = [("xquad", "xquad", {p.stem: p for p in xfiles})]
    if not args.no_distractors:
        corpora.append(("xquad+10kgnad", "scale", r.news_files()))
    if not args.no_in_articles:
        inside = data.paragraphs_in_articles(xq.paragraphs, r.gnad)
        corpora.append(("xquad-in-articles", "in-articles", r._mixed_corpus("in-articles", inside)))
    model_path = resolve_model(Settings.from_env())
    for name, store, by_id in corpora:
        files = list(by_id.values())
        bot = open_bot(r.out / "stores" / store, r.embedder)
        report = sync_corpus(bot, files, f"ingest {name}")
        section["corpora"][name] = {"documents": len(files), "chunks": bot.store.count(),
                                    "failed": [f"{Path(p.path).name}: {p.reason}" for p in report.failed]}
        if name == "xquad-in-articles":
            offsets = sorted(inside[p.id].index(p.text) for p in xq.paragraphs)
            section["corpora"][name]["median_chars_before_paragraph"] = offsets[len(offsets) // 2]
        peer = None
        if not args.no_peer:
            from .peer import LlamaIndexPeer

            log(f"building the llama-index peer over {name}")
            t0 = time.perf_counter()
            peer = LlamaIndexPeer(model_path, files, bot.settings.query_prompt, bot.settings.passage_prompt)
            section["corpora"][name]["peer"] = dict(peer.describe(), build_s=round(time.perf_counter() - t0, 1))
        qs = questions
        if name != "xquad" and args.distractor_questions:
            qs = {lang: data.subset(q, min(args.distractor_questions, args.questions or 10**9))
                  for lang, q in of_split.items()}
            section["questions_" + name] = {lang: len(q) for lang, q in qs.items()}
        def keep(run_, name=name):
            section["runs"].append(run_.summary())
            section["per_query"][f"{name}/{run_.retriever}/{run_.lang}"] = run_.per_query()
            r.save("retrieval", section)   # a run killed halfway keeps what it measured

        rename = {p.stem: doc for doc, p in by_id.items()}
        retrieval_eval.evaluate(bot, qs, name, args.k, peer, on_run=keep, rename=rename)
        del peer


# Answer modes: the learned reader ("extractive", the default), the hand-tuned reader it replaced
# ("baseline", for side-by-side numbers in the same run), the learned reader without the
# dictionary ("unglossed": English short answers in the article's words; asked for by name), and
# the configured LLM.
MODE_SETTINGS = {"extractive": {"llm": "", "reader": "learned"}, "baseline": {"llm": "", "reader": "baseline"},
                 "unglossed": {"llm": "", "reader": "learned", "dictionary": ""}, "llm": {}}


def _modes(args) -> list[str]:
    configured = bool(Settings.from_env().llm)
    if args.modes == "auto":
        return ["extractive", "baseline"] + (["llm"] if configured else [])
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODE_SETTINGS]
    if bad:
        raise RagError(f"Unknown answer mode {bad[0]!r}; use extractive, baseline, unglossed and/or llm.")
    if "llm" in modes and not configured:
        raise RagError("The llm mode needs an LLM configured (RAG_LLM and its settings, see the README).")
    return modes


def run_answers(r: Run) -> None:
    from . import answer_eval

    args = r.args
    meta = r.section_meta()
    modes = _modes(args)
    if args.gold:
        gold_path = Path(args.gold)
        articles = Path(args.articles) if args.articles else Path(Settings.from_env().seeds_dir)
    else:
        gold_path, articles = data.DEFAULT_GOLD, Path(Settings.from_env().seeds_dir)
    if not articles.is_dir():
        raise RagError(f"The articles folder '{articles}' does not exist.")
    items = data.load_gold(gold_path)
    from ..loading import discover

    files, _, _ = discover([articles])
    missing = data.check_gold_sources(items, files)
    if missing:
        raise RagError(f"Gold source(s) not found in '{articles}': {', '.join(missing[:5])}.")
    section: dict = {"meta": meta, "modes": modes, "gold_file": str(gold_path), "articles": str(articles),
                     "runs": [], "records": {}}
    store_name = "seeds" if articles.resolve() == Path(Settings.from_env().seeds_dir).resolve() \
        else "gold-" + _slug(articles)
    xq = r.xquad if args.answer_questions else None
    for mode in modes:
        overrides = MODE_SETTINGS[mode]
        bot = open_bot(r.out / "stores" / store_name, r.embedder, **overrides)
        sync_corpus(bot, files, f"ingest {articles.name}")
        recs = answer_eval.run_gold(bot, items, f"gold {mode}", root=articles)
        _add_answer_run(section, f"gold:{gold_path.name}", mode, recs)
        n = args.answer_questions if mode != "llm" else min(args.answer_questions, args.llm_answer_questions)
        if xq is not None and n:
            _xquad_answers(r, section, xq, mode, n, overrides)
        r.save("answers", section)


def _xquad_answers(r: Run, section: dict, xq: data.XQuad, mode: str, n: int, overrides: dict) -> None:
    """Test-split XQuAD questions on a store that holds every paragraph but the held-out ones
    (data.held_out): questions of kept test paragraphs are answerable, those of held-out ones are
    the unanswerable set."""
    from . import answer_eval
    from .. import glossary

    held = {p.id for p in xq.paragraphs if data.held_out(p)}
    bot = open_bot(r.out / "stores" / "xquad-answers", r.embedder, **overrides)
    sync_corpus(bot, [f for f in r.xquad_files() if f.stem not in held], "ingest xquad (answers)")
    german = {q.id: q for q in xq.questions["de"]}
    for lang, qs in xq.questions.items():
        test = [q for q in qs if data.split_of(q) == "test"]
        answerable = data.subset([q for q in test if q.paragraph_id not in held], n)
        unanswerable = data.subset([q for q in test if q.paragraph_id in held], max(1, n // 2))
        ceilings = section.setdefault("ceilings", {})
        # The first mode's questions (the most: an LLM mode may ask fewer); gold spans, not answers.
        # Also over every question of each split: the dev figure is what the short-answer rules
        # (rag/render.py, rag/glossary.py) were chosen on, the test one what they reach elsewhere.
        if f"xquad-{lang}" not in ceilings:
            gloss = glossary.load(bot.settings.dictionary)
            ceilings[f"xquad-{lang}"] = answer_eval.span_ceiling(answerable, german, gloss)
            for split in ("dev", "test"):
                every = [q for q in qs if data.split_of(q) == split]
                ceilings[f"xquad-{lang}, every {split} question"] = answer_eval.span_ceiling(every, german, gloss)
                if lang == "en":
                    section.setdefault("words_left_german", {})[split] = answer_eval.words_left_german(
                        [p.text for p in xq.paragraphs if data.split_of(p) == split], gloss)
        recs = answer_eval.run_xquad(bot, answerable, f"xquad {lang} {mode}")
        recs += answer_eval.run_xquad(bot, unanswerable, f"xquad {lang} {mode} (unanswerable)", answerable=False)
        _add_answer_run(section, f"xquad-{lang}", mode, recs)


def run_claims(r: Run) -> None:
    """Claim verification on XQuAD's parallel paragraphs (rag/evaluation/claims_eval.py)."""
    from .. import glossary
    from ..settings import Settings
    from . import claims_eval

    meta = r.section_meta()
    gloss = glossary.load(Settings.from_env().dictionary)
    section = claims_eval.run(r.args.xquad, r.embedder, claims_eval.CACHE_DIR, r.args.claim_paragraphs or None,
                              gloss)
    section["meta"] = meta
    r.save("claims", section)


def _add_answer_run(section: dict, dataset: str, mode: str, records) -> None:
    from . import answer_eval

    section["runs"].append({"dataset": dataset, "mode": mode, "summary": answer_eval.summarize(records),
                            "by_lang": answer_eval.breakdown(records, "lang"),
                            "by_category": answer_eval.breakdown(records, "category"),
                            "answer_modes_seen": sorted({x.mode for x in records if x.mode})})
    section["records"][f"{dataset}/{mode}"] = [x.to_dict() for x in records]


def _slug(path: Path) -> str:
    import hashlib

    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
