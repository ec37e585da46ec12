"""Browser chat over the article store: `python app.py` opens http://127.0.0.1:7860.

UI only: layout, event wiring and error display. Retrieval and answering live in `rag.Assistant`;
all HTML is built by ui_render.py, which escapes every piece of article and question text.

Serving: RAG_HOST (default 127.0.0.1), RAG_PORT (default 7860), RAG_AUTH=user:password. Binding to
anything but a loopback address requires RAG_AUTH, or the explicit opt-out `--insecure-no-auth`
(or RAG_ALLOW_NO_AUTH=1).
"""
from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

# Before gradio / transformers are imported: nothing phones home, nothing downloads.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import ui_render as ui  # noqa: E402  (pure, no heavy imports)

UPLOAD_TYPES = [".txt", ".md", ".html", ".htm"]
MAX_FILES_PER_UPLOAD = 50
LANG_CHOICES = [("Auto (the question's language)", ""), ("Deutsch", "de"), ("English", "en")]
EXAMPLES = [
    "Wer ist der Sprecher des Kremls?",
    "Wo hat Kim Jong-un Lawrow empfangen?",
    "Was hat Putin über einen Besuch in Nordkorea gesagt?",
    "Which Russian minister travelled to North Korea?",
    "Who did Choe Son Hui meet in Moscow?",
]


# --- serving configuration (read before anything heavy is loaded) -----------------------------
class ConfigError(Exception):
    """A start-up setting is wrong; the message says which and how to fix it."""


@dataclass
class ServerConfig:
    host: str
    port: int
    auth: tuple[str, str] | None


def is_loopback(host: str) -> bool:
    if host.strip().lower() in {"localhost", "ip6-localhost"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_auth(raw: str) -> tuple[str, str] | None:
    if not raw:
        return None
    user, sep, password = raw.partition(":")
    if not sep or not user or not password:
        raise ConfigError("RAG_AUTH must look like user:password (both non-empty).")
    return user, password


def server_config(env: dict, argv: list[str] | None = None) -> ServerConfig:
    p = argparse.ArgumentParser(description="Browser chat over the article store.")
    p.add_argument("--host", help="address to bind (default: RAG_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: RAG_PORT or 7860)")
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="allow a non-loopback address without RAG_AUTH (anyone who can reach it can use it)")
    args = p.parse_args(argv)
    host = args.host or env.get("RAG_HOST") or "127.0.0.1"
    raw_port = args.port if args.port is not None else env.get("RAG_PORT") or "7860"
    try:
        port = int(raw_port)
    except ValueError:
        raise ConfigError(f"RAG_PORT={raw_port!r} is not a port number.") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"Port {port} is outside 1-65535.")
    auth = parse_auth(env.get("RAG_AUTH", ""))
    allow = args.insecure_no_auth or env.get("RAG_ALLOW_NO_AUTH", "").lower() in {"1", "true", "yes"}
    if not is_loopback(host) and auth is None and not allow:
        raise ConfigError(
            f"Refusing to serve on {host} without a password: set RAG_AUTH=user:password, or pass "
            f"--insecure-no-auth (RAG_ALLOW_NO_AUTH=1) if everyone who can reach {host} may use it.")
    return ServerConfig(host, port, auth)


def port_problem(host: str, port: int) -> str:
    """'' if host:port can be bound now, else a sentence saying why not (checked before the slow
    model load, so a busy port fails in a second rather than after it)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return f"Cannot serve on {host}: that address is unknown on this machine."
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            return (f"Cannot serve on {host}:{port} ({e.strerror or e}); set RAG_PORT (or --port) "
                    f"to a free port.")
    return ""


def screen_uploads(paths: list[str], max_bytes: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Split uploads into acceptable files and (name, reason) refusals: type and size limits."""
    ok, refused = [], []
    for p in paths[:MAX_FILES_PER_UPLOAD]:
        name = Path(p).name
        size = Path(p).stat().st_size if Path(p).is_file() else -1
        if Path(p).suffix.lower() not in UPLOAD_TYPES:
            refused.append((name, f"is not a {', '.join(UPLOAD_TYPES)} file"))
        elif size < 0:
            refused.append((name, "did not arrive"))
        elif size > max_bytes:
            refused.append((name, f"is {ui.format_bytes(size)}; the limit is {ui.format_bytes(max_bytes)}"))
        else:
            ok.append(p)
    refused += [(Path(p).name, f"was not added: at most {MAX_FILES_PER_UPLOAD} files per upload")
                for p in paths[MAX_FILES_PER_UPLOAD:]]
    return ok, refused


log = logging.getLogger("app")


def _log(message: str) -> None:
    log.info(message)


def setup_logging() -> None:
    """Operations log on stderr: one line per event; a traceback only for a real bug."""
    logging.basicConfig(level=os.environ.get("RAG_LOG_LEVEL", "INFO").upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for noisy in ("httpx", "httpcore", "chromadb", "urllib3"):   # one line per request otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)


def user_mistake(where: str, error) -> None:
    """A refused input or an unavailable service: one line, no traceback."""
    from rag.results import StoreUnreachable

    (log.error if isinstance(error, StoreUnreachable) else log.info)("%s: %s", where, error)


def plain_report(report) -> dict:
    """The ingest report as plain data for the API. Per-file entries carry `file`, not `path`: a dict
    with a `path` looks like a file to gradio_client, which then tries to download it and fails."""
    d = report.to_dict()
    for key, value in d.items():
        if isinstance(value, list):   # failed, skipped, duplicates, warnings, cleaned, ...
            d[key] = [{("file" if k == "path" else k): v for k, v in item.items()} if isinstance(item, dict)
                      else item for item in value]
    return d


def open_assistant():
    from rag import Assistant, Settings

    settings = Settings.from_env()
    _log(f"Opening the article store in {settings.chroma_url or settings.store_dir} ...")
    _log("Loading the embedding model (a new store is first filled with the seed articles) ...")

    def progress(done: int, total: int, message: str) -> None:
        _log(f"  {message}" if not total else f"  ingesting {done}/{total}: {message}")

    t0 = time.perf_counter()
    bot = Assistant.open(settings, progress=progress)
    bot.embedder   # the library loads it on first use; the chat loads it now, not on the first question
    info = bot.info()
    _log(f"Ready in {time.perf_counter() - t0:.1f} s: {len(bot.articles())} articles, "
         f"{info.get('chunks', '?')} passages, answer mode {info.get('mode', '?')}.")
    return bot


# --- the page ---------------------------------------------------------------------------------
def build(bot):
    """The page: its callbacks (all answering goes through `bot`), layout and event wiring."""
    import gradio as gr

    fns = dict(chat=chat_handler(bot), **api_handlers(bot), **store_handlers(bot), rate=rate_handler(bot.settings),
               conversation_file=ConversationFiles())
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])   # no web-font downloads
    # Gradio keeps a copy of every file it serves (downloads, uploads); without delete_cache they
    # stay in its cache folder until the machine is cleaned. An hour is ample to fetch one.
    with gr.Blocks(title="News Q&A · Nachrichten-Assistent", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as demo:
        c = layout(bot.settings)
        wire(fns, c, bot.settings, demo)
    return demo, theme


def lang_of(choice: str) -> str | None:
    """The answer language a UI or API caller chose (None: the question's own)."""
    from rag import RagError

    if choice in ("", None, "auto", "Auto"):
        return None
    if choice not in ("de", "en"):
        raise RagError(f"Unknown answer language '{choice}' (use de, en or leave it empty).")
    return choice


def options(lang: str, k, outlet: str, date_from: str, date_to: str) -> dict:
    """The Assistant's keyword options from the Settings tab's fields, checked."""
    from rag import RagError

    try:
        d_from, d_to = ui.check_date(date_from, "from"), ui.check_date(date_to, "to")
    except ValueError as e:
        raise RagError(str(e)) from None
    if d_from and d_to and d_from > d_to:
        raise RagError(f"The date range is empty: {d_from} is after {d_to}.")
    k = int(k or 0) or None
    if k is not None and not 1 <= k <= 50:
        raise RagError("The number of passages must be between 1 and 50.")
    return dict(lang=lang_of(lang), k=k, outlet=outlet or "", date_from=d_from, date_to=d_to)


def pairs(history) -> list[tuple[str, str]]:
    """(question, answer) turns as the Assistant takes them."""
    return [(str(u), str(a)) for u, a in (history or [])]


def chat_handler(bot):
    """The chat callback: streams the answer into the last bubble, then the sources."""
    import gradio as gr

    from rag import RagError

    # None defaults make every option optional for gradio_client callers of /chat.
    def chat(message, messages=None, turns=None, lang=None, k=None, outlet=None, date_from=None, date_to=None):
        question = (message or "").strip()
        messages, turns = list(messages or []), list(turns or [])
        if not question:
            yield messages, gr.skip(), "", turns
            return
        turn = len(messages)
        messages += [{"role": "user", "content": ui.user_html(question)},
                     {"role": "assistant", "content": ui.pending_html()}]
        yield messages, ui.pending_sources_html(), "", turns
        try:
            opts = options(lang, k, outlet, date_from, date_to)
            text, answer = "", None
            for item in bot.stream(question, history=pairs(turns), **opts):
                if isinstance(item, str):
                    text += item
                    messages[-1] = {"role": "assistant", "content": ui.answer_html(text, turn)}
                    yield messages, gr.skip(), "", turns
                else:
                    answer = item
            if answer is None:
                raise RagError("The assistant returned no answer; please try again.")
            messages[-1] = {"role": "assistant", "content": ui.answer_html(
                answer.text, turn, valid={c.n for c in answer.citations}) + ui.unverified_html(answer)
                + ui.actions_html(ui.answer_record(question, answer))}
            turns.append((question, answer.text))
            yield messages, ui.sources_html(answer, turn, auto_language=opts["lang"] is None, asked=question), \
                "", turns
        except RagError as e:
            user_mistake("chat", e)
            messages[-1] = {"role": "assistant", "content": ui.error_html(str(e))}
            yield messages, ui.empty_sources_html(), "", turns
        except Exception as e:  # never a traceback in the page; the log keeps it
            log.exception("chat failed")
            messages[-1] = {"role": "assistant", "content": ui.error_html(
                f"Something went wrong while answering ({type(e).__name__}). Please try again; "
                f"the details are in the server log.")}
            yield messages, ui.empty_sources_html(), "", turns

    return chat


def api_handlers(bot) -> dict:
    """The API-only endpoints: ask, articles, info, feedback."""
    import dataclasses

    import gradio as gr

    from rag import RagError, feedback

    settings = bot.settings

    def ask(question: str, history: list | None = None, lang: str = "", k: int = 0, outlet: str = "",
            date_from: str = "", date_to: str = "") -> dict:
        """Answer a question; returns the Answer as a dict (answer, citations, passages, ...)."""
        try:
            return bot.ask(question, history=pairs(history), **options(lang, k, outlet, date_from, date_to)).to_dict()
        except RagError as e:
            user_mistake("ask", e)
            raise gr.Error(str(e), print_exception=False) from None
        except Exception as e:
            log.exception("ask failed")
            raise gr.Error(print_exception=False, message=f"Something went wrong while answering ({type(e).__name__}); "
                           f"the details are in the server log.") from None

    def api_errors(where: str, fn):
        try:
            return fn()
        except RagError as e:
            user_mistake(where, e)
            raise gr.Error(str(e), print_exception=False) from None

    def articles() -> list[dict]:
        """The stored articles: source, title, outlet, date, url, chunks."""
        return api_errors("articles", bot.articles)

    def info() -> dict:
        """Answer mode, LLM, embedding model, store and its size."""
        return api_errors("info", bot.info)

    def give_feedback(rating: str, question: str, answer: dict) -> dict:
        """Store thumbs up ("up") or down ("down") for an answer as /ask returned it."""
        if not isinstance(answer, dict) or "answer" not in answer:
            raise gr.Error("answer must be the dictionary /ask returned.")
        sources = [{k: c.get(k, "") for k in ("n", "source", "title", "outlet", "date", "quote")}
                   for c in answer.get("citations") or []]
        try:
            item = feedback.record(settings, feedback.FeedbackRecord(
                rating=str(rating), question=str(question), answer=str(answer["answer"]), sources=sources,
                mode=str(answer.get("mode", ""))))
        except RagError as e:
            raise gr.Error(str(e)) from None
        return dataclasses.asdict(item)

    return dict(ask=ask, articles=articles, info=info, give_feedback=give_feedback)


def store_handlers(bot) -> dict:
    """Adding, deleting and listing articles."""
    import gradio as gr

    from rag import FileProblem, IngestReport, RagError

    settings = bot.settings

    def upload(paths, progress=gr.Progress()):
        paths = [str(p) for p in (paths or [])]
        if not paths:
            return "No files were selected.", {}
        ok, refused = screen_uploads(paths, settings.max_file_bytes)
        progress(0, desc="Adding articles")
        try:
            report = bot.import_files(ok, progress=lambda d, t, m: progress((d, t), desc=f"Ingesting {m}",
                                                                            unit="files")) if ok else IngestReport()
        except RagError as e:
            user_mistake("upload", e)
            return f"Nothing was added: {e}", {}
        except Exception as e:
            log.exception("upload failed")
            return f"Nothing was added: something went wrong ({type(e).__name__}); see the server log.", {}
        report.failed += [FileProblem(name, f"{name} {why}") for name, why in refused]
        for p in report.failed:
            log.info("upload: %s refused: %s", Path(p.path).name, p.reason)
        return report.summary(), plain_report(report)

    def delete(source: str):
        if not source:
            return "Choose an article to delete first.", {}
        try:
            report = bot.remove([source])
        except RagError as e:
            user_mistake("delete", e)
            return f"Nothing was deleted: {e}", {}
        return report.summary(), plain_report(report)

    def refresh():
        try:
            arts = bot.articles()
            info = bot.info()
        except RagError as e:   # e.g. the Chroma server is down: say so where the status goes
            user_mistake("refresh", e)
            return (gr.skip(), gr.skip(), gr.skip(), ui.error_html(str(e)), ui.error_html(str(e)), None)
        return (ui.article_rows(arts),
                gr.update(choices=ui.article_choices(arts), value=None),
                gr.update(choices=[("All outlets", "")] + [(o, o) for o in ui.outlet_choices(arts)]),
                ui.info_html(info, len(arts)), ui.status_html(info, len(arts)), None)

    return dict(upload=upload, delete=delete, refresh=refresh)


def rate_handler(settings):
    """Thumbs on a chat bubble, stored as feedback."""
    import gradio as gr

    from rag import feedback

    def rate(messages, like: gr.LikeData):
        """Thumbs on an answer bubble: stored with the question, answer and sources."""
        index = like.index[0] if isinstance(like.index, (list, tuple)) else like.index
        record = ui.record_from_html((messages or [])[index]["content"]) if 0 <= index < len(messages or []) \
            else None
        if record is None or like.liked not in (True, False):
            return   # an error bubble, a question, or a rating taken back
        feedback.record(settings, feedback.FeedbackRecord(
            rating="up" if like.liked else "down", question=record["question"], answer=record["answer"],
            sources=[{k: v for k, v in s_.items() if k != "passage"} for s_ in record["sources"]],
            mode=record["mode"]))

    # Gradio finds the LikeData argument by its annotation, which `from __future__ import
    # annotations` turns into a string it cannot resolve here (gradio is imported locally).
    rate.__annotations__["like"] = gr.LikeData

    return rate


class ConversationFiles:
    """The conversation as a Markdown file for the download button, in one folder of the app's own.

    Gradio copies a returned file into its own cache at once, so ours is needed for moments only:
    each new file removes those older than `keep_seconds`, and the folder goes when the app ends.
    (A new temporary folder per answer, as before, left every conversation in the temp folder for
    good: private text piling up on a server without bound.)"""

    def __init__(self, keep_seconds: float = 600.0):
        self._folder = tempfile.TemporaryDirectory(prefix="rag-conversations-")
        self.folder = Path(self._folder.name)
        self.keep_seconds = keep_seconds

    def __call__(self, messages) -> str | None:
        """The file's path (None while the conversation is empty)."""
        text = ui.conversation_markdown(messages or [])
        if not text:
            return None
        self._prune(time.time() - self.keep_seconds)
        # A unique name: two users may download in the same second.
        handle, name = tempfile.mkstemp(prefix=f"conversation-{time.strftime('%Y%m%d-%H%M%S')}-",
                                        suffix=".md", dir=self.folder)
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        return name

    def _prune(self, before: float) -> None:
        for old in self.folder.glob("*.md"):
            try:
                if old.stat().st_mtime < before:
                    old.unlink()
            except FileNotFoundError:
                pass   # another request pruned it first

    def close(self) -> None:
        self._folder.cleanup()


def layout(settings):
    """The components of the page (inside gr.Blocks), by name."""
    import gradio as gr

    gr.Markdown("## News Q&A · Fragen an die Nachrichten")
    status = gr.HTML(elem_id="status")
    turns = gr.State([])
    with gr.Tabs():
        with gr.Tab("Chat", id="chat"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=360):
                    # Gradio's copy buttons would copy the escaped HTML; each answer has its own
                    # (ui.actions_html). The thumbs are Gradio's, stored by `rate`.
                    chatbot = gr.Chatbot(
                        elem_id="chat", height=520, latex_delimiters=[], feedback_options=("Like", "Dislike"),
                        buttons=[], sanitize_html=True, show_label=False,
                        placeholder="Ask about the articles in German or English. "
                                    "Stell deine Frage auf Deutsch oder Englisch.")
                    with gr.Row():
                        question = gr.Textbox(show_label=False, scale=6, elem_id="question", autofocus=True,
                                              placeholder="Your question / Deine Frage …", max_lines=4)
                        send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask")
                        clear = gr.Button("New chat", scale=1, min_width=110, elem_id="clear")
                    download = gr.DownloadButton("Download conversation (Markdown)", value=None, size="sm",
                                                 elem_id="download", interactive=True)
                    gr.Examples(EXAMPLES, inputs=question, label="Examples / Beispiele")
                with gr.Column(scale=2, min_width=320):
                    sources = gr.HTML(ui.empty_sources_html(), elem_id="sources")
        with gr.Tab("Articles", id="articles"):
            files = gr.File(label=f"Add articles ({', '.join(UPLOAD_TYPES)}; at most "
                                  f"{ui.format_bytes(settings.max_file_bytes)} each)",
                            file_count="multiple", file_types=UPLOAD_TYPES, type="filepath",
                            elem_id="upload")
            report = gr.Textbox(label="Ingest report", lines=3, interactive=False, elem_id="report")
            with gr.Accordion("Report details", open=False):
                report_json = gr.JSON(show_label=False)
            table = gr.Dataframe(headers=["Title", "Outlet", "Date", "Chunks", "File"],
                                 datatype=["str", "str", "str", "number", "str"], interactive=False,
                                 wrap=True, column_widths=["44%", "20%", "10%", "8%", "18%"],
                                 elem_id="articles-table", label="Articles in the store")
            with gr.Row():
                pick = gr.Dropdown(label="Article to delete", choices=[], allow_custom_value=True,
                                   elem_id="delete-pick", scale=4)
                delete_btn = gr.Button("Delete from the store", variant="stop", elem_id="delete", scale=1)
                refresh_btn = gr.Button("Refresh", scale=1)
        with gr.Tab("Settings", id="settings"):
            info_box = gr.HTML(elem_id="info")
            lang = gr.Radio(LANG_CHOICES, value="", label="Answer language", elem_id="lang")
            k = gr.Slider(1, 20, value=settings.top_k, step=1, label="Passages per question", elem_id="k")
            outlet = gr.Dropdown([("All outlets", "")], value="", label="Outlet", allow_custom_value=True,
                                 elem_id="outlet")
            with gr.Row():
                date_from = gr.Textbox(label="From date (YYYY-MM-DD)", elem_id="date-from")
                date_to = gr.Textbox(label="To date (YYYY-MM-DD)", elem_id="date-to")
    return SimpleNamespace(status=status, turns=turns, chatbot=chatbot, question=question, send=send, clear=clear, download=download, sources=sources, files=files, report=report, report_json=report_json, table=table, pick=pick, delete_btn=delete_btn, refresh_btn=refresh_btn, info_box=info_box, lang=lang, k=k, outlet=outlet, date_from=date_from, date_to=date_to)


def wire(fns: dict, c, settings, demo) -> None:
    """Events and API endpoints (inside gr.Blocks)."""
    import gradio as gr

    # Reads (questions, lists, info) run side by side; the library guards the store itself.
    # Writes queue behind each other so one upload's report is not mixed with another's.
    reads = dict(concurrency_id="reads", concurrency_limit=max(settings.ui_parallel_reads, 1))
    writes = dict(concurrency_id="writes", concurrency_limit=1)
    chat_io = dict(fn=fns["chat"], inputs=[c.question, c.chatbot, c.turns, c.lang, c.k, c.outlet, c.date_from,
                                           c.date_to],
                   outputs=[c.chatbot, c.sources, c.question, c.turns], show_progress="hidden", **reads)
    download_io = dict(fn=fns["conversation_file"], inputs=c.chatbot, outputs=c.download,
                       api_visibility="private", queue=False, show_progress="hidden")
    c.question.submit(api_name="chat", **chat_io).then(**download_io)
    c.send.click(api_visibility="private", **chat_io).then(**download_io)
    c.chatbot.like(fns["rate"], c.chatbot, None, api_visibility="private", queue=False)
    for emptied in (c.clear.click, c.chatbot.clear):   # an emptied chat has nothing to download
        emptied(lambda: None, outputs=c.download, api_visibility="private", queue=False)
    c.clear.click(lambda: ([], ui.empty_sources_html(), [], ""), outputs=[c.chatbot, c.sources, c.turns, c.question],
                  api_name="clear", queue=False)
    # The chat's own trash icon empties only the messages; the conversation goes with them.
    c.chatbot.clear(lambda: (ui.empty_sources_html(), []), outputs=[c.sources, c.turns], api_visibility="private",
                    queue=False)
    refresh_io = dict(fn=fns["refresh"], outputs=[c.table, c.pick, c.outlet, c.info_box, c.status, c.files],
                      api_visibility="private", **reads)
    c.files.upload(fns["upload"], c.files, [c.report, c.report_json], api_name="upload", **writes).then(**refresh_io)
    c.delete_btn.click(fns["delete"], c.pick, [c.report, c.report_json], api_name="delete", **writes).then(**refresh_io)
    c.refresh_btn.click(**refresh_io)
    demo.load(**refresh_io)
    gr.api(fns["ask"], api_name="ask", **reads)
    gr.api(fns["articles"], api_name="articles", **reads)
    gr.api(fns["info"], api_name="info", **reads)
    gr.api(fns["give_feedback"], api_name="feedback")


def stop_on_sigterm() -> None:
    """A service manager's stop (SIGTERM) ends the app as Ctrl-C does: the server closes and the
    temporary files go. Python's default for SIGTERM ends the process with no clean-up at all."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def main(argv: list[str] | None = None) -> int:
    t0 = time.perf_counter()
    setup_logging()
    stop_on_sigterm()
    try:
        cfg = server_config(dict(os.environ), argv)
    except ConfigError as e:
        log.error(f"Error: {e}")
        return 2
    problem = port_problem(cfg.host, cfg.port)
    if problem:
        log.error(f"Error: {problem}")
        return 1
    from rag import RagError

    try:
        bot = open_assistant()
    except RagError as e:
        log.error(f"Error: {e}")
        return 1
    except Exception as e:  # a broken store or model: one line here, no stack trace
        log.error(f"Error: could not open the assistant ({type(e).__name__}: {e}).")
        return 1
    # The reader's encoder, the dictionary and the language tables load while the UI starts, not
    # on the first question.
    bot.warm_up(everything=True)
    demo, theme = build(bot)
    demo.queue(default_concurrency_limit=1, max_size=256)
    from starlette.middleware import Middleware

    from login_guard import LoginLimiter, LoginRateLimit

    s = bot.settings
    limiter = LoginLimiter(s.login_max_failures, s.login_window_s, s.login_block_s)
    try:
        demo.launch(server_name=cfg.host, server_port=cfg.port, auth=cfg.auth, share=False,
                    prevent_thread_lock=True, show_error=False, quiet=True, ssr_mode=False, pwa=False,
                    mcp_server=False, max_file_size=bot.settings.max_file_bytes,
                    footer_links=["api", "gradio"], theme=theme, css=ui.CSS, head=ui.HEAD,
                    app_kwargs={"middleware": [Middleware(LoginRateLimit, limiter=limiter)]})
    except OSError:
        log.error(f"Error: cannot serve on {cfg.host}:{cfg.port}; set RAG_PORT (or --port) to a free port.")
        return 1
    host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
    _log(f"Chat ready after {time.perf_counter() - t0:.1f} s: open http://{host}:{cfg.port}"
         + (" (login required)" if cfg.auth else ""))
    try:
        demo.block_thread()   # returns on Ctrl-C or SIGTERM (it catches the interrupt itself)
    except KeyboardInterrupt:
        pass
    finally:
        # Closing the queue as well lets the server finish its shutdown, where Gradio deletes its
        # cached uploads and downloads; after only block_thread's close it was cut off mid-way.
        demo.close(verbose=False)
    _log("Stopped.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        _log("Stopped.")
        sys.exit(130)
