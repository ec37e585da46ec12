"""The one facade used by the UI, the CLI and the eval scripts."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

from . import extractive, ingest as ingesting, language
from .embedding import Embedder
from .results import Answer, IngestReport, Passage, RagError
from .retrieval import Retriever, build_filter
from .settings import Settings
from .store import ChunkStore


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
        """What the UI shows in its settings panel."""
        return {"mode": "extractive", "llm": "", "embedding_model": self.embedder.name,
                "store": self.settings.chroma_url or str(self.settings.store_dir),
                "chunks": self.store.count(), "top_k": self.settings.top_k}

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
        """Answer `question`. `history` is the conversation so far as (user, assistant) turns."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        q = self._check(question)
        lang = lang or language.detect(q)
        q_vec = self.embedder.queries([q])[0]
        t1 = time.perf_counter()
        passages = self.retriever.search(q, lang, k or self.settings.top_k, where=build_filter(
            outlet, date_from, date_to), query_vector=q_vec)
        t2 = time.perf_counter()
        text, citations, abstained = extractive.answer(
            q, lang, passages, q_vec, self.embedder.passages, self.settings.min_relevance,
            self.settings.min_sentence_relevance)
        t3 = time.perf_counter()
        timings.update(embed=(t1 - t0) * 1000, retrieve=(t2 - t1) * 1000, answer=(t3 - t2) * 1000,
                       total=(t3 - t0) * 1000)
        return Answer(text=text, language=lang, abstained=abstained, citations=citations,
                      passages=passages, timings_ms={k: round(v, 1) for k, v in timings.items()},
                      mode="extractive", question=q)

    def stream(self, question: str, history: list[tuple[str, str]] | None = None,
               **kwargs) -> Iterator[str | Answer]:
        """Yields answer text as it is produced, then the finished Answer."""
        answer = self.ask(question, history=history, **kwargs)
        yield answer.text
        yield answer
