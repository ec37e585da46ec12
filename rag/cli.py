"""Command line: rag (or python -m rag) ingest|ask|chat|search|articles|remove|info|feedback ...

Exit codes: 0 success; 1 some files failed to ingest or remove; 2 a usage or input error (the
message says which); 3 the Chroma server is unreachable; 130 interrupted."""
from __future__ import annotations

import argparse
import json
import logging
import sys

from .results import RagError, StoreUnreachable
from .settings import Settings

MAX_QUESTIONS_FILE_BYTES = 50_000_000


def _prog() -> str:
    """'rag' when run as the installed command, 'python -m rag' otherwise (for help texts)."""
    from pathlib import Path

    return "rag" if Path(sys.argv[0]).name == "rag" else "python -m rag"


def _store_options(sp) -> None:
    sp.add_argument("--store", help="store directory (default: RAG_STORE_DIR, else store/ in the checkout)")
    sp.add_argument("--chroma-url", help="use a Chroma server instead of the embedded store")
    sp.add_argument("--collection", help="Chroma collection name")
    sp.add_argument("--no-seed", action="store_true", help="do not fill a new store from seeds/")


def _llm_options(sp) -> None:
    g = sp.add_argument_group("LLM (default: RAG_LLM*, else extractive answers)")
    g.add_argument("--llm", choices=["openai", "llamacpp", "none"],
                   help="openai = any OpenAI-compatible server, llamacpp = a local GGUF file")
    g.add_argument("--llm-url", help="base URL of the server, e.g. http://127.0.0.1:11434/v1")
    g.add_argument("--llm-model", help="model name on the server (default: the first it lists)")
    g.add_argument("--llm-model-path", help="GGUF file for --llm llamacpp")
    g.add_argument("--llm-timeout", type=float, help="seconds an answer may take (default 60)")


def _asking_commands(sub) -> None:
    """ask, chat and search."""
    sp = sub.add_parser("ask", help="answer a question with cited sources")
    _store_options(sp)
    _llm_options(sp)
    sp.add_argument("question")
    sp.add_argument("-k", type=int, help="passages to retrieve")
    sp.add_argument("--lang", choices=["de", "en"], help="answer language (default: the question's)")
    sp.add_argument("--stream", action="store_true", help="print the answer as it is generated")
    sp.add_argument("--json", action="store_true")

    sp = sub.add_parser("chat", help="a conversation: one question per line on stdin, follow-ups allowed")
    _store_options(sp)
    _llm_options(sp)
    sp.add_argument("-k", type=int, help="passages to retrieve")
    sp.add_argument("--lang", choices=["de", "en"], help="answer language (default: the question's)")

    sp = sub.add_parser("search", help="retrieve passages only")
    _store_options(sp)
    sp.add_argument("question", nargs="?")
    sp.add_argument("-k", type=int, default=5)
    sp.add_argument("--mode", choices=["hybrid", "dense", "lexical"], default="hybrid")
    sp.add_argument("--questions", help="file with one question per line; prints one JSON line each")
    sp.add_argument("--json", action="store_true")


def _ingest_command(sub) -> None:
    sp = sub.add_parser("ingest", help="add or sync files and folders (.txt .md .html)")
    _store_options(sp)
    sp.add_argument("paths", nargs="+")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--keep-missing", action="store_true",
                    help="do not remove stored articles whose files left the given folders")


def _store_commands(sub) -> None:
    """articles, info, remove and feedback."""
    for name, help_ in (("articles", "list the stored articles"),
                        ("info", "the answer mode, embedding model and backend, and store in use")):
        sp = sub.add_parser(name, help=help_)
        _store_options(sp)
        sp.add_argument("--json", action="store_true")
    sp = sub.add_parser("remove", help="remove articles from the store (files stay on disk)")
    _store_options(sp)
    sp.add_argument("sources", nargs="+")
    sp = sub.add_parser("feedback", help="thumbs up/down given in the browser chat")
    _store_options(sp)
    sp.add_argument("action", choices=["export"], help="export: print every record as JSON lines")
    sp.add_argument("-o", "--output", help="write to this file instead of stdout")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=_prog(), description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    # Subcommand order is the order of `--help`.
    _ingest_command(sub)
    _asking_commands(sub)
    # These parse their own arguments (rag/evaluation/cli.py, rag/reader_train.py, rag/claims_train.py).
    sub.add_parser("eval", help="evaluation and benchmarks (python -m rag eval --help)", add_help=False)
    sub.add_parser("train-reader", help="retrain the no-LLM reader on the XQuAD dev articles "
                                        "(python -m rag train-reader --help)", add_help=False)
    sub.add_parser("train-claims", help="retrain the LLM answers' claim checker on the XQuAD dev articles "
                                        "(python -m rag train-claims --help)", add_help=False)
    _store_commands(sub)
    return p


def _settings(args) -> Settings:
    llm = getattr(args, "llm", None)
    settings = Settings.from_env(
        store_dir=args.store, chroma_url=args.chroma_url, collection=args.collection,
        llm="" if llm == "none" else llm, llm_base_url=getattr(args, "llm_url", None),
        llm_model=getattr(args, "llm_model", None), llm_model_path=getattr(args, "llm_model_path", None),
        llm_timeout=getattr(args, "llm_timeout", None))
    from . import llm as llm_mod

    try:
        llm_mod.check(settings)
    except llm_mod.LLMError as e:
        raise RagError(e.detail[:1].upper() + e.detail[1:]) from None
    return settings


def _progress(done: int, total: int, message: str) -> None:
    if total == 0:
        print(message, file=sys.stderr)


def _open(args):
    from .assistant import Assistant

    return Assistant.open(_settings(args), seed=not args.no_seed, progress=_progress)


def _print_answer(answer, text_shown: bool = False) -> None:
    from .render import word_for_word_note

    if not text_shown:
        print(answer.text)
    if answer.notice:
        print(("Hinweis: " if answer.language == "de" else "Note: ") + answer.notice)
    if answer.citations:
        print()
        for c in answer.citations:
            where = " · ".join(x for x in (c.outlet, c.date) if x)
            print(f"[{c.n}] {c.title}" + (f" ({where})" if where else ""))
            note = word_for_word_note(c.title_english, answer.language)
            if note:
                print(f"    {note}")
            print(f"    {c.source}:{c.start}-{c.end}")
    elif answer.passages:
        print()
        print("Closest passages:" if answer.language == "en" else "Nächstliegende Passagen:")
        for p in answer.passages[:3]:
            print(f"  - {p.title} ({p.source})")


def run(args) -> int:
    if args.command == "ingest":
        from .assistant import Assistant

        bot = Assistant.open(_settings(args), seed=False, progress=_progress)
        report = bot.ingest(args.paths, remove_missing=not args.keep_missing)
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) if args.json else report.summary())
        return 0 if not report.failed else 1
    if args.command == "ask":
        bot = _open(args)
        if args.stream and not args.json:
            _stream_answer(bot.stream(args.question, k=args.k, lang=args.lang))
            return 0
        answer = bot.ask(args.question, k=args.k, lang=args.lang)
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False))
        else:
            _print_answer(answer)
        return 0
    if args.command == "chat":
        return _chat(_open(args), args)
    if args.command == "search":
        if bool(args.question) == bool(args.questions):
            raise RagError("Give either a question or --questions FILE.")
        bot = _open(args)
        if args.questions:
            return _search_file(bot, args)
        passages = bot.search(args.question, k=args.k, mode=args.mode)
        if args.json:
            print(json.dumps({"question": args.question, "passages": [p.to_dict() for p in passages]},
                             ensure_ascii=False))
        else:
            for i, p in enumerate(passages, 1):
                print(f"{i}. [{p.score:.4f}] {p.title} — {p.source}")
                print("   " + p.text[:300].replace("\n", " "))
        return 0
    if args.command == "articles":
        bot = _open(args)
        rows = bot.articles()
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            for r in rows:
                print(f"{r['chunks']:4d} chunks  {r['outlet'] or '-':20.20s}  {r['title'][:70]}  ({r['source']})")
            print(f"{len(rows)} articles")
        return 0
    if args.command == "info":
        info = _open(args).info()
        print(json.dumps(info, ensure_ascii=False, indent=2) if args.json
              else "\n".join(f"{k}: {v}" for k, v in info.items()))
        return 0
    if args.command == "remove":
        bot = _open(args)
        report = bot.remove(args.sources)
        print(report.summary())
        return 0 if not report.failed else 1
    if args.command == "feedback":
        return _export_feedback(_settings(args), args.output)
    return 2


def _export_feedback(settings: Settings, output: str | None) -> int:
    from . import feedback

    records = feedback.read(feedback.path(settings))
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if output:
        from pathlib import Path

        Path(output).write_text(lines, encoding="utf-8")
        print(f"{len(records)} feedback records written to {output}", file=sys.stderr)
    else:
        sys.stdout.write(lines)
    return 0


def _stream_answer(items) -> object:
    """Print chunks as they come; the verified answer follows when it differs from them."""
    shown = []
    answer = None
    for item in items:
        if isinstance(item, str):
            shown.append(item)
            print(item, end="", flush=True)
        else:
            answer = item
    print()
    streamed = "".join(shown).strip()
    same = streamed == answer.text.strip()
    if not same and not streamed.endswith(answer.text.strip()):
        print()
        print(answer.text)
    # A notice already streamed (a fallback after partial text) is not repeated.
    if answer.notice and answer.notice in streamed:
        import dataclasses

        answer = dataclasses.replace(answer, notice="")
    _print_answer(answer, text_shown=True)
    return answer


def _chat(bot, args) -> int:
    from .chat import ChatSession

    session = ChatSession(bot, k=args.k, lang=args.lang)
    interactive = sys.stdin.isatty()
    if interactive:
        print("Ask a question (empty line or Ctrl-D to quit, /new for a new conversation).", file=sys.stderr)
    while True:
        if interactive:
            print("> ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line or (interactive and not line.strip()):
            return 0
        question = line.strip()
        if not question:
            continue
        if question in ("/new", "/reset"):
            session.reset()
            continue
        try:
            answer = _stream_answer(session.stream(question))
        except RagError as e:
            print(f"Error: {e}", file=sys.stderr)
            continue
        if answer.question and answer.question != " ".join(question.split()):
            print(("Gesucht: " if answer.language == "de" else "Searched for: ") + answer.question)
        print()


def _search_file(bot, args) -> int:
    from pathlib import Path

    path = Path(args.questions)
    if not path.is_file():
        raise RagError(f"Questions file '{args.questions}' does not exist.")
    if path.stat().st_size > MAX_QUESTIONS_FILE_BYTES:
        raise RagError(f"Questions file '{args.questions}' is larger than 50 MB.")
    from tqdm import tqdm

    lines = [l.strip() for l in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    for q in tqdm([l for l in lines if l], desc="Searching", unit="q", file=sys.stderr,
                  disable=not sys.stderr.isatty()):
        try:
            passages = bot.search(q, k=args.k, mode=args.mode)
            row = {"question": q, "passages": [
                {"source": p.source, "text": p.text, "score": p.score, "chunk_id": p.chunk_id,
                 "start": p.start, "end": p.end} for p in passages]}
        except RagError as e:
            row = {"question": q, "error": str(e), "passages": []}
        print(json.dumps(row, ensure_ascii=False), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train-reader"]:
        from .reader_train import main as train_reader

        return train_reader(argv[1:])
    if argv[:1] == ["train-claims"]:
        from .claims_train import main as train_claims

        return train_claims(argv[1:])
    if argv[:1] == ["eval"]:
        # The evaluation suite has its own options; see docs/eval.md.
        from .evaluation import main as evaluate

        return evaluate(argv[1:], prog=f"{_prog()} eval")
    args = _parser().parse_args(argv)
    # Library warnings (one line each) go to stderr; answers go to stdout.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except StoreUnreachable as e:
        print(f"Error: {e}", file=sys.stderr)
        return 3
    except RagError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
