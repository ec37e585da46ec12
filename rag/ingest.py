"""Ingestion: files and folders in, cleaned and chunked articles synced into the store."""
from __future__ import annotations

import collections
import hashlib
import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from . import chunking, cleaning, loading
from .embedding import Embedder
from .results import CleaningLoss, FileProblem, IngestReport
from .settings import Settings
from .store import ChunkStore, segments_json

Progress = Callable[[int, int, str], None]   # (done, total, message)

# Chunks embedded in one call. The embedder sorts a call's texts by length, so the larger the
# window, the less each batch pads: on 10kGNAD, batches of 16 cut from sorted windows of 128 chunks
# hold 8 % padding, from windows of 512 2 % (one sort over everything: 0.4 %). 512 chunks are
# about 1 MB of text and vectors, and the writer thread writes one window while the next is embedded.
_EMBED_WINDOW = 512
_WRITES_AHEAD = 1    # embedded windows waiting for the writer (beside the one it is writing)
# Chunks read, cleaned and chunked ahead of the embedding: a whole window, so that the next call
# starts as soon as the last returns (64 files ahead left the model idle ~1 s per 512-chunk window
# while the rest of the window was prepared).
_PREPARE_AHEAD = _EMBED_WINDOW


@dataclass
class PreparedChunk:
    id: str
    text: str
    embed_text: str
    meta: dict


def chunk_id(source: str, text: str, occurrence: int) -> str:
    """Stable id from content: the same passage of the same file always gets the same id."""
    h = hashlib.sha256(f"{source}\x00{occurrence}\x00{text}".encode("utf-8")).hexdigest()
    return h[:32]


# What prepare() stores, versioned: stored files prepared by an older version are prepared again on
# the next sync even when the file is unchanged (2: headlines capped, boilerplate rules anchored).
PREP_VERSION = 2
# A headline, not a paragraph: it is prepended to every chunk's embedding text, so a long one would
# crowd the chunk out of the model's window (and make all of an article's vectors the same).
TITLE_MAX_CHARS = 200


@dataclass
class PreparedDoc:
    chunks: list[PreparedChunk]
    loss: CleaningLoss


def headline(text: str, max_chars: int = TITLE_MAX_CHARS) -> str:
    """A short title from a title line: the line itself when it is short, else its first sentence,
    else its first max_chars characters cut at a word boundary. Always a prefix of `text` (after
    stripping), so a chunk that starts with the headline is not given it twice."""
    line = text.strip()
    if len(line) <= max_chars:
        return line
    sentences = chunking.split_sentences(line[:max_chars * 2])
    if sentences and sentences[0].start == 0 and len(sentences[0].text) <= max_chars:
        return sentences[0].text
    cut = line.rfind(" ", max_chars // 2, max_chars + 1)
    return line[:cut if cut > 0 else max_chars].rstrip()


def embed_text(title: str, text: str) -> str:
    """The headline names the story's key entities; passages after the first lack it."""
    return text if not title or text.startswith(title) else f"{title}\n{text}"


def prepare(doc: loading.SourceDoc, settings: Settings) -> list[PreparedChunk]:
    """Clean, describe and chunk one document. Pure apart from reading the rule files."""
    return prepare_document(doc, settings).chunks


def prepare_document(doc: loading.SourceDoc, settings: Settings) -> PreparedDoc:
    """prepare(), plus how much text cleaning removed."""
    cleaned = cleaning.clean(doc.text)
    if len(cleaned.text) < 20:
        raise loading.UnreadableFile("has no article text left after removing page boilerplate")
    title = headline(doc.meta.get("title") or cleaned.text.split("\n", 1)[0])
    meta = {
        "source": doc.path,
        "doc_hash": doc.sha256,
        "prep": PREP_VERSION,
        "title": title,
        "outlet": doc.meta.get("outlet") or cleaning.detect_outlet(doc.text),
        "date": doc.meta.get("date") or cleaning.detect_date(doc.text),
        "url": doc.meta.get("url") or cleaning.detect_url(doc.text),
    }
    meta["date_num"] = int(meta["date"].replace("-", "")) if meta["date"][:4].isdigit() and len(meta["date"]) == 10 else 0
    spans = chunking.chunk(cleaned.text, settings.chunk_chars, settings.chunk_overlap_chars)
    seen: dict[str, int] = {}
    out = []
    for i, span in enumerate(spans):
        occurrence = seen[span.text] = seen.get(span.text, -1) + 1
        m = dict(meta, start=span.start, end=span.end, chunk=i, n_chunks=len(spans),
                 segs=segments_json(cleaned.segments, span.start, span.end))
        out.append(PreparedChunk(chunk_id(doc.path, span.text, occurrence), span.text,
                                 embed_text(title, span.text), m))
    total = cleaning.visible_chars(doc.text)
    return PreparedDoc(out, CleaningLoss(doc.path, total - cleaning.visible_chars(cleaned.text), total))


def _vectors_reusable(stored, chunks: list[PreparedChunk]) -> bool:
    """A stored chunk's vector can be kept for the same text only while the title that was embedded
    with it is the same; a new headline means new embedding (and BM25) text for every chunk."""
    return bool(chunks) and stored.title == chunks[0].meta["title"]


class Duplicate(Exception):
    """The file's content is already stored under another name; the message names it."""


def _check_duplicate(doc: loading.SourceDoc, owners: dict[str, str]) -> None:
    """Raise Duplicate when another stored file (still on disk, unchanged) has the same bytes: one
    article stored twice would fill the top-k with copies of itself."""
    owner = owners.get(doc.sha256)
    if owner is None or owner == doc.path:
        return
    try:
        same = loading.file_hash(Path(owner).read_bytes()) == doc.sha256
    except OSError:
        same = False
    if same:
        raise Duplicate(f"{Path(doc.path).name} has the same content as {owner}, which is stored; "
                        f"not stored again")


def _record(report: IngestReport, doc: loading.SourceDoc, prepared: PreparedDoc) -> None:
    """What the report learns from a prepared file."""
    report.cleaned.append(prepared.loss)
    report.warnings += [FileProblem(doc.path, note) for note in doc.notes]


@dataclass
class _PreparedFile:
    source: str
    existed: bool
    chunks: list[PreparedChunk] | None   # None: unchanged since the last sync (or a problem)
    problem: FileProblem | None = None
    duplicate: bool = False              # `problem` says which stored file has the same content
    doc: loading.SourceDoc | None = None
    prepared: PreparedDoc | None = None


def _prepared(todo: list[tuple[Path, bool]], stored: dict, settings: Settings) -> Iterator[_PreparedFile]:
    """Each file to sync, read, cleaned and chunked; or why it is unchanged, a duplicate or
    unreadable. Runs in the prepare thread, which alone owns `owners` (content hash -> file)."""
    owners = {s.doc_hash: src for src, s in stored.items()}
    for f, existed in todo:
        src = str(f)
        try:
            data_hash = loading.file_hash(f.read_bytes()) if existed else None
            if existed and stored[src].doc_hash == data_hash and stored[src].consistent \
                    and stored[src].prep == PREP_VERSION:
                yield _PreparedFile(src, existed, None)
                continue
            doc = loading.read(f, settings.max_file_bytes)
            if not existed:
                _check_duplicate(doc, owners)
            prepared = prepare_document(doc, settings)
            owners.setdefault(doc.sha256, doc.path)
            yield _PreparedFile(src, existed, prepared.chunks, doc=doc, prepared=prepared)
        except Duplicate as e:
            yield _PreparedFile(src, existed, None, FileProblem(src, str(e)), duplicate=True)
        except loading.UnreadableFile as e:
            yield _PreparedFile(src, existed, None, FileProblem(src, f"{Path(src).name} {e}"))
        except OSError as e:
            yield _PreparedFile(src, existed, None,
                                FileProblem(src, f"{Path(src).name} cannot be read ({e.strerror or e})"))


def _ahead(items: Iterator, limit: int, weight: Callable[[object], int] = lambda x: 1) -> Iterator:
    """Yield what `items` yields, computed in a worker thread ahead of the consumer, as long as
    the items waiting weigh less than `limit` (always at least one). An exception in the worker is
    raised here; leaving the loop early stops the worker."""
    waiting: collections.deque = collections.deque()
    cond = threading.Condition()
    state = {"weight": 0, "stop": False}

    def put(kind: str, x, w: int) -> bool:
        with cond:
            while state["weight"] >= limit and not state["stop"]:
                cond.wait()
            if state["stop"]:
                return False
            waiting.append((kind, x, w))
            state["weight"] += w
            cond.notify_all()
            return True

    def work():
        try:
            for x in items:
                if not put("item", x, weight(x)):
                    return
            put("done", None, 0)
        except BaseException as e:   # handed to the consuming thread, which raises it
            put("error", e, 0)

    worker = threading.Thread(target=work, name="ingest-prepare", daemon=True)
    worker.start()
    try:
        while True:
            with cond:
                while not waiting:
                    cond.wait()
                kind, x, w = waiting.popleft()
                state["weight"] -= w
                cond.notify_all()
            if kind == "done":
                return
            if kind == "error":
                raise x
            yield x
    finally:
        with cond:
            state["stop"] = True
            cond.notify_all()
        worker.join()


def _under(path: str, folder: Path) -> bool:
    try:
        Path(path).relative_to(folder)
        return True
    except ValueError:
        return False


# --- embedding and writing ---------------------------------------------------------------------
@dataclass
class _FileWrites:
    """What one prepared file changes in the store besides its new chunks."""
    source: str
    existed: bool
    reused: list[PreparedChunk]   # stored with a still valid vector: only the metadata is rewritten
    stale: list[str]              # stored chunk ids the new version of the file no longer has


@dataclass
class _Window:
    """One embedding call's worth of files: their new chunks (embedded together) and the rest of
    their writes. Applied as the serial sync did: the new chunks first, then file by file the
    reused chunks' metadata and the stale chunks' deletion (a crash in between leaves a file with
    chunks of two versions, which sources() reports as inconsistent)."""
    new: list[PreparedChunk]
    files: list[_FileWrites]
    vectors: np.ndarray | None = None


def _plan_window(pending: list[tuple[str, bool, list[PreparedChunk]]], known_ids: set[str],
                 stored: dict) -> _Window:
    """Split the pending files' chunks into new ones (to embed) and reused ones, and find the stale
    ids of files that were stored before."""
    new = [c for _, _, chunks in pending for c in chunks if c.id not in known_ids]
    files = []
    for src, existed, chunks in pending:
        keep = {c.id for c in chunks}
        stale = [cid for cid in stored[src].ids if cid not in keep] if existed else []
        files.append(_FileWrites(src, existed, [c for c in chunks if c.id in known_ids], stale))
    return _Window(new, files)


def _write_window(store: ChunkStore, window: _Window, report: IngestReport) -> None:
    """Apply one embedded window to the store; runs in the writer thread, which alone updates
    these fields of the report."""
    if window.new:
        store.upsert([c.id for c in window.new], window.vectors, [c.text for c in window.new],
                     [c.meta for c in window.new])
        report.chunks_added += len(window.new)
    for f in window.files:
        if f.reused:
            store.update_metadata([c.id for c in f.reused], [c.meta for c in f.reused])
        if f.existed:
            store.delete(f.stale)
            report.chunks_removed += len(f.stale)
            report.updated.append(f.source)
        else:
            report.added.append(f.source)


class _OrderedWriter:
    """One thread that applies windows to the store in the order they were submitted, while the
    caller embeds the next window: Chroma, the change log and BM25 then no longer wait for the
    model, nor the model for them. Writes keep today's order, so a crash leaves the same store
    a serial sync would have left at that point (files half-written are inconsistent and prepared
    again by the next sync). After a failed write nothing more is written, and the error is raised
    in the caller by the next submit() or by close()."""

    def __init__(self, write: Callable[[_Window], None], depth: int):
        self._write = write
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ingest-write", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            window = self._queue.get()
            if window is None:
                return
            if self._error is None:   # after a failure the rest is only drained, never written
                try:
                    self._write(window)
                except BaseException as e:   # handed to the syncing thread, which raises it
                    self._error = e

    def submit(self, window: _Window) -> None:
        self._raise()
        self._queue.put(window)

    def close(self, raise_error: bool = True) -> None:
        """Wait until everything submitted is written (or the writer failed)."""
        self._queue.put(None)
        self._thread.join()
        if raise_error:
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error


def _progress_bar(total: int, progress: Progress | None):
    if progress is None and total > 20 and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, unit="file", desc="Ingesting", file=sys.stderr)
    return None


def _take(item: _PreparedFile, report: IngestReport) -> bool:
    """Record a prepared file's outcome in the report; True when it has chunks to store."""
    if item.duplicate:
        report.duplicates.append(item.problem)
    elif item.problem is not None:
        report.failed.append(item.problem)
    elif item.chunks is None:
        report.unchanged.append(item.source)
    else:
        _record(report, item.doc, item.prepared)
        return True
    return False


def _embed_in_windows(todo: list[tuple[Path, bool]], stored: dict, embedder: Embedder, settings: Settings,
                      report: IngestReport, writer: _OrderedWriter, progress: Progress | None) -> None:
    """Files read, cleaned and chunked a few ahead in one thread, embedded here window by window,
    each window written by the writer thread while the next is embedded."""
    pending: list[tuple[str, bool, list[PreparedChunk]]] = []
    known_ids: set[str] = set()   # stored chunk ids whose vectors stay valid

    def flush():
        window = _plan_window(pending, known_ids, stored)
        if window.new:
            window.vectors = embedder.passages([c.embed_text for c in window.new])
        writer.submit(window)
        pending.clear()

    bar = _progress_bar(len(todo), progress)
    try:
        ahead = _ahead(_prepared(todo, stored, settings), _PREPARE_AHEAD, lambda f: len(f.chunks or ()) or 1)
        for done, item in enumerate(ahead, 1):
            if _take(item, report):
                if item.existed and _vectors_reusable(stored[item.source], item.chunks):
                    known_ids.update(stored[item.source].ids)
                pending.append((item.source, item.existed, item.chunks))
            if sum(len(chunks) for _, _, chunks in pending) >= _EMBED_WINDOW:
                flush()
            if bar:
                bar.update(1)
            if progress:
                progress(done, len(todo), Path(item.source).name)
        if pending:
            flush()
    finally:
        if bar:
            bar.close()


def _remove_missing(found: loading.Scan, stored: dict, store: ChunkStore, report: IngestReport) -> None:
    """Drop stored files that were under a given folder and are gone from disk."""
    present = {str(f) for f in found.files}
    for src, s in stored.items():
        if src not in present and any(_under(src, folder) for folder in found.folders) and not Path(src).exists():
            store.delete(s.ids)
            report.chunks_removed += len(s.ids)
            report.removed.append(src)


def sync(paths: list[str | Path], store: ChunkStore, embedder: Embedder, settings: Settings,
         progress: Progress | None = None, remove_missing: bool = True) -> IngestReport:
    """Bring the store in line with the given files and folders.

    Unchanged files are skipped, changed ones replace their chunks (re-embedding only chunks whose
    text is new), and files that disappeared from a given folder are removed from the store."""
    t0 = time.perf_counter()
    report = IngestReport()
    found = loading.scan(paths)
    report.failed += [FileProblem(p, why) for p, why in found.problems]
    report.skipped += [FileProblem(p, why) for p, why in found.skipped]
    stored = store.sources()
    todo = [(f, str(f) in stored) for f in found.files]

    writer = _OrderedWriter(lambda window: _write_window(store, window, report), _WRITES_AHEAD)
    try:
        _embed_in_windows(todo, stored, embedder, settings, report, writer, progress)
    except BaseException:
        writer.close(raise_error=False)   # what was embedded before the error is still written
        raise
    writer.close()

    if remove_missing and found.folders:
        _remove_missing(found, stored, store, report)
    store.save()
    report.seconds = time.perf_counter() - t0
    return report


def remove(sources: list[str], store: ChunkStore) -> IngestReport:
    """Delete articles from the store (not from disk)."""
    report = IngestReport()
    stored = store.sources()
    for src in sources:
        s = stored.get(src) or stored.get(str(Path(src).expanduser().resolve()))
        if s is None:
            report.failed.append(FileProblem(src, "is not in the store"))
            continue
        store.delete(s.ids)
        report.chunks_removed += len(s.ids)
        report.removed.append(s.source)
    store.save()
    return report
