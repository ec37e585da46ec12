"""The one facade used by the UI, the CLI and the eval scripts."""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from . import extractive, glossary, ingest as ingesting, lang as langs, language, reader
from .concurrency import GuardedStore, WriterLock, translate
from .embedding import Embedder, span_model_path
from .render import word_for_word
from .results import Answer, Citation, IngestReport, Passage, RagError
from .retrieval import Retriever, build_filter
from .settings import Settings
from .store import ChunkStore

_LLM_LOCK = threading.Lock()
log = logging.getLogger(__name__)
_MODEL_LOCK = threading.Lock()
_WORD = re.compile(r"[^\W\d_]{2,}")   # two or more letters in a row, any script


def looks_like_question(q: str) -> bool:
    """False for input that has no words to search for: only emoji, digits or punctuation, or a
    JSON object/array pasted instead of a question (its keys would otherwise be matched)."""
    if not _WORD.search(q):
        return False
    if q[:1] in "{[" and q[-1:] in "}]":
        try:
            return not isinstance(json.loads(q), (dict, list))
        except ValueError:
            return True
    return True


def kind_of(question: str, turns: list[tuple[str, str]]) -> str:
    """What the user's question asks for; a follow-up without a question word ("Und Putin?")
    asks for the same kind as the question before it."""
    if turns and not langs.has_question_word(question):
        return langs.question_kind(turns[-1][0])
    return langs.question_kind(question)


class Assistant:
    """Thread-safe: any number of threads may ask and search while one ingests or deletes (see
    rag/concurrency.py); writers to one store, also from other processes, take turns."""

    def __init__(self, settings: Settings, embedder: Embedder | None, store: ChunkStore, progress=None):
        """`embedder` None: the model is loaded on first use, so listing or removing articles
        never waits for it (`progress` then reports that load)."""
        self.settings = settings
        self._embedder = embedder
        self._embedder_progress = progress
        self.store = store if isinstance(store, GuardedStore) else GuardedStore(store)
        self._retriever = None
        self._span_model_path: str | None = None   # the e5-small the reader's span head adapts
        self._reader_loader: threading.Thread | None = None
        self._tables_loader: threading.Thread | None = None
        self._span_lock = threading.Lock()
        self._writer = WriterLock(settings.store_dir, settings.write_lock_wait)
        # Looked up at call time: the model itself loads lazily.
        self._sentence_vectors = reader.SentenceVectors(lambda texts: self.embedder.passages(texts))

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            with _MODEL_LOCK:
                if self._embedder is None:
                    report = self._embedder_progress
                    self._embedder = Embedder(self.settings, progress=(lambda m: report(0, 0, m)) if report
                                              else None)
        return self._embedder

    @property
    def retriever(self) -> Retriever:
        # Two threads racing here build two equivalent, stateless retrievers; either one is kept.
        if self._retriever is None:
            self._retriever = Retriever(self.store, self.embedder, self.settings)
        return self._retriever

    @classmethod
    def open(cls, settings: Settings | None = None, seed: bool = True, progress=None) -> "Assistant":
        """Open the store (the embedding model loads when a question or an ingest first needs
        it); a new, empty store is filled from the seed articles."""
        settings = settings or Settings.from_env()
        store = translate(settings.chroma_url)(ChunkStore)(settings, settings.embedding_model)
        assistant = cls(settings, None, store, progress=progress)
        if seed and store.count() == 0 and Path(settings.seeds_dir).is_dir():
            assistant.ingest([settings.seeds_dir], progress=progress)
        assistant._finish_uploads(progress)
        return assistant

    def _uploads_dir(self) -> Path:
        return Path(self.settings.store_dir) / "uploads"

    def _finish_uploads(self, progress=None) -> None:
        """Ingest what an interrupted upload copied into uploads/ but never stored (and drop what
        vanished from there): the folder holds exactly the uploaded articles."""
        uploads = self._uploads_dir()
        if uploads.is_dir() and any(uploads.iterdir()):
            report = self.ingest([uploads], progress=progress)
            if report.added or report.removed:
                log.info("uploads/ synced on opening: %s", report.summary().splitlines()[0])

    # --- articles --------------------------------------------------------------------------
    def ingest(self, paths: list[str | Path], progress=None, remove_missing: bool = True) -> IngestReport:
        notify = (lambda m: progress(0, 0, m)) if progress else None
        with self._writer.hold(notify):
            self._catch_up()
            return ingesting.sync(paths, self.store, self.embedder, self.settings, progress=progress,
                                  remove_missing=remove_missing)

    def remove(self, sources: list[str]) -> IngestReport:
        with self._writer.hold():
            self._catch_up()
            report = ingesting.remove(sources, self.store)
        # An upload's copy is the store's own; left on disk it would come back on the next opening.
        self._delete_upload_copies(report.removed)
        return report

    def _delete_upload_copies(self, sources: list[str]) -> None:
        uploads = self._uploads_dir().resolve()
        for src in sources:
            if Path(src).parent == uploads:
                Path(src).unlink(missing_ok=True)

    def _catch_up(self) -> None:
        """Another process may have written since this one last did: bring the BM25 index in line
        with Chroma before writing, or saving it would drop that process's chunks."""
        sync = getattr(self.store.inner, "_sync_lexical", None)
        if sync is not None:
            self.store._sync_lexical()

    def import_files(self, paths: list[str | Path], progress=None) -> IngestReport:
        """Copy files (e.g. browser uploads from a temp dir) into the store's own article folder
        and ingest them there, so they outlive the upload. Same-named files are replaced."""
        import shutil

        from .loading import SUPPORTED

        target = Path(self.settings.store_dir) / "uploads"
        target.mkdir(parents=True, exist_ok=True)
        copied, report_failed = [], []
        for p in map(Path, paths):
            if p.suffix.lower() not in SUPPORTED:
                report_failed.append((p.name, f"unsupported file type '{p.suffix or '(none)'}' "
                                              f"(supported: {', '.join(sorted(SUPPORTED))})"))
                continue
            if not p.is_file():
                report_failed.append((p.name, "no such file"))
                continue
            dest = target / p.name
            shutil.copyfile(p, dest)
            copied.append(dest)
        report = self.ingest(copied, progress=progress, remove_missing=False) if copied else IngestReport()
        # A copy that was not stored (a duplicate, unreadable) must not linger and be retried on
        # every opening.
        self._delete_upload_copies([p.path for p in report.duplicates + report.failed])
        from .results import FileProblem

        report.failed += [FileProblem(name, why) for name, why in report_failed]
        return report

    def info(self) -> dict:
        """What the UI shows in its settings panel. Contacts no LLM server."""
        from . import llm as llm_mod

        s = self.settings
        # Never loads the model (`rag info` answers fast); the backend choice is cheap to make.
        from .embedding import choose_backend

        loaded = self._embedder
        choice = loaded if loaded is not None else choose_backend(s)
        out = {"mode": "extractive", "llm": "", "embedding_model": s.embedding_model,
               "embedding_backend": getattr(choice, "backend", ""),
               "embedding_precision": getattr(choice, "precision", ""),
               "store": s.chroma_url or str(s.store_dir), "chunks": self.store.count(), "top_k": s.top_k}
        if not llm_mod.enabled(s):
            return out
        try:
            llm_mod.check(s)
        except llm_mod.LLMError as e:
            out["llm_error"] = f"{e.detail} Answers are extractive until this is fixed."
            return out
        backend = getattr(self, "_llm", None)
        if (s.llm or "").strip().lower() == "openai":
            model = backend.model if backend else (s.llm_model or "server default")
            out["llm"] = f"{model} via the OpenAI-compatible server at {s.llm_base_url}"
        else:
            model = s.llm_model or Path(s.llm_model_path).stem
            out["llm"] = f"{model} (local GGUF file {s.llm_model_path})"
        out.update(mode=f"llm:{model}", llm_timeout_s=s.llm_timeout)
        return out

    def articles(self) -> list[dict]:
        """One row per stored article: source, title, outlet, date, url, chunks."""
        rows = [dict(source=s.source, title=s.title, outlet=s.outlet, date=s.date, url=s.url,
                     chunks=len(s.ids)) for s in self.store.sources().values()]
        return sorted(rows, key=lambda r: r["source"])

    # --- questions -------------------------------------------------------------------------
    def _check(self, question: str) -> str:
        q = " ".join((question or "").split())
        if not q:
            raise RagError("Please type a question.")
        if len(q) > self.settings.max_question_chars:
            raise RagError(f"The question is {len(q):,} characters long; please keep it under "
                           f"{self.settings.max_question_chars:,}.")
        if not looks_like_question(q):
            raise RagError("Please ask a question in words. / Bitte stelle eine Frage in Worten.")
        return q

    def search(self, question: str, k: int | None = None, mode: str = "hybrid", lang: str | None = None,
               outlet: str = "", date_from: str = "", date_to: str = "") -> list[Passage]:
        q = self._check(question)
        lang = lang or language.detect(q)
        return self.retriever.search(q, lang, k or self.settings.top_k, mode=mode,
                                     where=build_filter(outlet, date_from, date_to))

    def ask(self, question: str, k: int | None = None, lang: str | None = None, outlet: str = "",
            date_from: str = "", date_to: str = "", history: list[tuple[str, str]] | None = None) -> Answer:
        """Answer `question`. `history` is the conversation so far as (user, assistant) turns (or
        chat messages with role/content); a follow-up is rewritten into a standalone question
        first, and Answer.question is what was searched for."""
        answer = None
        for item in self.stream(question, history=history, k=k, lang=lang, outlet=outlet,
                                date_from=date_from, date_to=date_to):
            if isinstance(item, Answer):
                answer = item
        return answer

    def chat(self, history, question: str, **kwargs) -> Answer:
        """`ask` for a conversation: `history` as (user, assistant) turns or chat messages."""
        return self.ask(question, history=history, **kwargs)

    def stream(self, question: str, history: list[tuple[str, str]] | None = None, k: int | None = None,
               lang: str | None = None, outlet: str = "", date_from: str = "",
               date_to: str = "") -> Iterator[str | Answer]:
        """Yields answer text as it is produced, then the finished Answer, whose text is the one to
        keep: it is the verified answer (see rag/generation.py for how the two can differ)."""
        from . import chat as chatting, generation

        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        s = self.settings
        q = self._check(question)
        self.warm_up()
        turns = chatting.normalize_history(history)
        q_lang = chatting.question_language(q, turns) if turns else language.detect(q)
        lang = lang or q_lang
        backend, notice = self._backend_or_notice(lang)
        # One deadline for everything the LLM does for this question: rewrite, answer, retry.
        deadline = time.monotonic() + (backend.timeout if backend else 0)

        t_rewrite = time.perf_counter()
        standalone = self._standalone(q, q_lang, turns, backend, deadline)
        t1 = time.perf_counter()
        q_vec = self.embedder.queries([standalone])[0]
        t2 = time.perf_counter()
        # Retrieval follows the question's language (BM25 weight); `lang` only picks the answer's.
        passages = self.retriever.search(standalone, q_lang, k or s.top_k, where=build_filter(
            outlet, date_from, date_to), query_vector=q_vec)
        t3 = time.perf_counter()
        timings.update(rewrite=(t1 - t_rewrite) * 1000, embed=(t2 - t1) * 1000, retrieve=(t3 - t2) * 1000)

        memo: list = []

        def fallback():
            if not memo:
                memo.append(self._extract(standalone, kind_of(q, turns), q_lang, lang, passages, q_vec))
            return memo[0]

        if backend is None:
            text, citations, abstained = fallback()
            t4 = time.perf_counter()
            timings.update(answer=(t4 - t3) * 1000, total=(t4 - t0) * 1000)
            yield text
            yield Answer(text=text, language=lang, abstained=abstained, citations=self._titled(citations, lang),
                         passages=passages, timings_ms={k: round(v, 1) for k, v in timings.items()},
                         mode="extractive" if s.reader != "baseline" else "extractive-baseline",
                         question=standalone, notice=notice)
            return

        verifier = self._verifier(lang)
        outcome = None
        for item in generation.run(standalone, lang, passages, backend, deadline, fallback, verifier):
            if isinstance(item, generation.Outcome):
                outcome = item
            else:
                yield item
        t4 = time.perf_counter()
        names = {"first_token": "llm_first_token"}
        timings.update({names.get(k, k): v for k, v in outcome.timings.items()})
        timings.update(answer=(t4 - t3) * 1000, total=(t4 - t0) * 1000)
        yield Answer(text=outcome.text, language=lang, abstained=outcome.abstained,
                     citations=self._titled(outcome.citations, lang), passages=passages,
                     timings_ms={k: round(v, 1) for k, v in timings.items()}, mode=outcome.mode,
                     question=standalone, notice=outcome.notice, claims=outcome.claims)

    def _titled(self, citations: list[Citation], lang: str) -> list[Citation]:
        """`citations` with their German titles word for word in English for an English answer
        (Citation.title_english), where the dictionary is installed."""
        gloss = glossary.load(self.settings.dictionary) if lang == "en" else None
        if gloss is None:
            return citations
        return [replace(c, title_english=word_for_word(c.title, gloss)) for c in citations]

    def _backend_or_notice(self, lang: str):
        """(the LLM backend, "") when one is configured and usable; (None, why not) when it is
        configured but cannot be used; (None, "") for the embedded default."""
        from . import llm as llm_mod

        if not llm_mod.enabled(self.settings):
            return None, ""
        try:
            return self._llm_backend(), ""
        except llm_mod.LLMError as e:
            return None, self._llm_notice(e, lang)

    def _standalone(self, q: str, q_lang: str, turns, backend, deadline: float) -> str:
        """The question rewritten to stand alone after the conversation so far (the question
        itself when the rewrite is empty or too long)."""
        from . import chat as chatting

        s = self.settings
        if backend is not None:
            rewrite = chatting.standalone_by_llm(backend, q, q_lang, turns, deadline, s.llm_history_chars)
        else:
            rewrite = chatting.standalone_by_rules(q, q_lang, turns)
        standalone = " ".join(rewrite.question.split())
        return q if not standalone or len(standalone) > s.max_question_chars else standalone

    def _verifier(self, lang: str):
        """The claim checker: e5 (the retrieval model) with the calibrated thresholds. One per
        question, so its cache of passage windows lives as long as the answer. Across languages
        only names the articles themselves use are checked: those in the lexical index, also
        transliterated (Lavrov for Lawrow). The learned check also reads the claim through the
        German-English dictionary when there is one (rag/claim_features.py)."""
        from .checkable import known_names
        from .verification import Verifier

        s = self.settings
        cross = lang != s.corpus_language
        known_name = known_names(self.store.lexical, s.corpus_language) if cross else None
        return Verifier(self.embedder.queries, self.embedder.passages,
                        min_similarity=s.claim_min_similarity, check_tokens=s.claim_check_tokens,
                        cross_language=cross, min_similarity_cross=s.claim_min_similarity_cross,
                        known_name=known_name, rule=s.claim_check, language=lang,
                        glossary=glossary.load(s.dictionary) if s.claim_check == "learned" else None)

    def _extract(self, question: str, kind: str, q_lang: str, lang: str, passages: list[Passage],
                 q_vec) -> tuple[str, list, bool]:
        """The answer without an LLM, by the configured reader (`learned`, or `baseline`: the
        hand-tuned rules it replaced, kept for side-by-side evaluation)."""
        s = self.settings
        if s.reader == "baseline":
            return extractive.answer(question, lang, passages, q_vec, self.embedder.passages,
                                     s.min_relevance, s.min_sentence_relevance)
        if s.reader != "learned":
            raise RagError(f"RAG_READER={s.reader!r} is not a reader (choose learned or baseline).")
        # The dictionary (tens of MB in memory) is read only once a question or an answer is in
        # another language than the articles: a German-only archive without an LLM never loads
        # it (the claim check of LLM answers reads it for every answer).
        crossing = q_lang != s.corpus_language or lang != s.corpus_language
        return reader.answer(question, lang, passages, q_vec, self._sentence_vectors,
                             self._span_encoder().token_states, kind=kind,
                             q_lang=q_lang, corpus_language=s.corpus_language,
                             term_weight=self.store.lexical.rarity,
                             glossary=glossary.load(s.dictionary) if crossing else None)

    def _span_encoder(self):
        # One thread at a time: resolving the path may build the model directory.
        with self._span_lock:
            if self._span_model_path is None:
                self._span_model_path = span_model_path(self.settings)
            # On the embedding backend's engine (converted once on a fresh machine: seconds).
            return reader.span_encoder(self._span_model_path, settings=self.settings,
                                       progress=lambda m: log.info("%s", m))

    def warm_up(self, everything: bool = False) -> None:
        """Start loading the learned reader's encoder (a second e5, with the span head's updates) in the
        background, so that it overlaps embedding the question and searching; the first answer
        waits only for what is left. Called by `stream`, and by the app at start with `everything`:
        then also what the first English question (or claim check) needs, loaded once per process:
        the German-English dictionary, the language detector's models and the word frequencies
        (the first English answer after start: 2,456 -> 710 ms, `python -m rag eval bench`, "First
        answer after start"). A one-shot question (`python -m rag ask`) does not load what it may
        not use: a German one needs none of it."""
        if self.settings.reader == "learned" and self._reader_loader is None:
            self._start_once("_reader_loader", "reader-load", self._load_reader)
        if everything and self._tables_loader is None:
            self._start_once("_tables_loader", "tables-load", self._load_tables)

    def _start_once(self, attribute: str, name: str, target) -> None:
        """Start `target` in a thread kept as `attribute`, unless one was started already."""
        with _MODEL_LOCK:
            if getattr(self, attribute) is None:
                thread = threading.Thread(target=target, name=name, daemon=True)
                setattr(self, attribute, thread)
                thread.start()

    def warmed(self, timeout: float | None = None) -> bool:
        """Wait for what `warm_up` started; whether all of it has finished."""
        threads = [t for t in (self._reader_loader, self._tables_loader) if t is not None]
        for t in threads:
            t.join(timeout)
        return not any(t.is_alive() for t in threads)

    def _load_reader(self) -> None:
        try:
            self.embedder       # first (it builds the e5 directory on a fresh machine), then the reader
            self._span_encoder()
        except Exception as e:   # the answer path loads it again and reports the error there
            log.debug("background load of the reader failed: %s", e)

    def _load_tables(self) -> None:
        from . import word_frequency

        try:
            language.warm_up()
            glossary.load(self.settings.dictionary)
            word_frequency.warm_up()
        except Exception as e:   # the answer path loads them again and reports the error there
            log.debug("background load of the language tables failed: %s", e)

    # --- the LLM backend, built on first use ----------------------------------------------------
    def _llm_backend(self):
        """The configured backend (cached once built). Raises rag.llm.LLMError."""
        from . import llm as llm_mod

        backend = getattr(self, "_llm", None)
        if backend is None:
            with _LLM_LOCK:
                backend = getattr(self, "_llm", None)
                if backend is None:
                    backend = llm_mod.build(self.settings)
                    self._llm = backend
        return backend

    def _llm_notice(self, error, lang: str) -> str:
        from . import prompts

        return prompts.notice(error.kind, lang, detail=error.detail, status=error.status or "?",
                              timeout=self.settings.llm_timeout)
