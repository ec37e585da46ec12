"""The one facade used by the UI, the CLI and the eval scripts."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator

from . import extractive, ingest as ingesting, language
from .embedding import Embedder
from .results import Answer, IngestReport, Passage, RagError
from .retrieval import Retriever, build_filter
from .settings import Settings
from .store import ChunkStore

_LLM_LOCK = threading.Lock()


class Assistant:
    def __init__(self, settings: Settings, embedder: Embedder, store: ChunkStore):
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.retriever = Retriever(store, embedder, settings)

    @classmethod
    def open(cls, settings: Settings | None = None, seed: bool = True, progress=None) -> "Assistant":
        """Load the model and the store; a new, empty store is filled from the seed articles."""
        settings = settings or Settings.from_env()
        embedder = Embedder(settings, progress=(lambda m: progress(0, 0, m)) if progress else None)
        store = ChunkStore(settings, embedder.name)
        assistant = cls(settings, embedder, store)
        if seed and store.count() == 0 and Path(settings.seeds_dir).is_dir():
            assistant.ingest([settings.seeds_dir], progress=progress)
        return assistant

    # --- articles --------------------------------------------------------------------------
    def ingest(self, paths: list[str | Path], progress=None, remove_missing: bool = True) -> IngestReport:
        return ingesting.sync(paths, self.store, self.embedder, self.settings, progress=progress,
                              remove_missing=remove_missing)

    def remove(self, sources: list[str]) -> IngestReport:
        return ingesting.remove(sources, self.store)

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
        from .results import FileProblem

        report.failed += [FileProblem(name, why) for name, why in report_failed]
        return report

    def info(self) -> dict:
        """What the UI shows in its settings panel. Contacts no LLM server."""
        from . import llm as llm_mod

        s = self.settings
        out = {"mode": "extractive", "llm": "", "embedding_model": self.embedder.name,
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
        from . import chat as chatting, generation, llm as llm_mod

        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        s = self.settings
        q = self._check(question)
        turns = chatting.normalize_history(history)
        q_lang = chatting.question_language(q, turns) if turns else language.detect(q)
        lang = lang or q_lang
        backend, notice = None, ""
        if llm_mod.enabled(s):
            try:
                backend = self._llm_backend()
            except llm_mod.LLMError as e:
                notice = self._llm_notice(e, lang)
        # One deadline for everything the LLM does for this question: rewrite, answer, retry.
        deadline = time.monotonic() + (backend.timeout if backend else 0)

        t_rewrite = time.perf_counter()
        if backend is not None:
            rewrite = chatting.standalone_by_llm(backend, q, q_lang, turns, deadline, s.llm_history_chars)
        else:
            rewrite = chatting.standalone_by_rules(q, q_lang, turns)
        standalone = " ".join(rewrite.question.split())
        if not standalone or len(standalone) > s.max_question_chars:
            standalone = q
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
                memo.append(extractive.answer(standalone, lang, passages, q_vec, self.embedder.passages,
                                              s.min_relevance, s.min_sentence_relevance))
            return memo[0]

        if backend is None:
            text, citations, abstained = fallback()
            t4 = time.perf_counter()
            timings.update(answer=(t4 - t3) * 1000, total=(t4 - t0) * 1000)
            yield text
            yield Answer(text=text, language=lang, abstained=abstained, citations=citations,
                         passages=passages, timings_ms={k: round(v, 1) for k, v in timings.items()},
                         mode="extractive", question=standalone, notice=notice)
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
                     citations=outcome.citations, passages=passages,
                     timings_ms={k: round(v, 1) for k, v in timings.items()}, mode=outcome.mode,
                     question=standalone, notice=outcome.notice, claims=outcome.claims)

    def _verifier(self, lang: str):
        """The claim checker: e5 (the retrieval model) with the calibrated thresholds. One per
        question, so its cache of passage windows lives as long as the answer. Across languages
        only names the articles themselves use are checked: those in the lexical index."""
        from .lexical import tokenize
        from .verification import Verifier

        s = self.settings
        vocab = getattr(getattr(self.store, "lexical", None), "postings", None)

        def known_name(name: str) -> bool:
            terms = tokenize(name, s.corpus_language)
            return bool(terms) and vocab is not None and all(t in vocab for t in terms)

        return Verifier(self.embedder.queries, self.embedder.passages,
                        min_similarity=s.claim_min_similarity, check_tokens=s.claim_check_tokens,
                        cross_language=lang != s.corpus_language,
                        min_similarity_cross=s.claim_min_similarity_cross, known_name=known_name)

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
