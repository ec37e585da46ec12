"""Ingestion: files and folders in, cleaned and chunked articles synced into the store."""
from __future__ import annotations

import hashlib
import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from . import chunking, cleaning, loading
from .embedding import Embedder
from .results import FileProblem, IngestReport
from .settings import Settings
from .store import ChunkStore, segments_json

Progress = Callable[[int, int, str], None]   # (done, total, message)

_EMBED_GROUP = 128   # chunks embedded and written together; the embedder sorts them by length
_PREPARE_AHEAD = 64  # files read, cleaned and chunked ahead of the embedding


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


def prepare(doc: loading.SourceDoc, settings: Settings) -> list[PreparedChunk]:
    """Clean, describe and chunk one document. Pure apart from reading the rule files."""
    cleaned = cleaning.clean(doc.text)
    if len(cleaned.text) < 20:
        raise loading.UnreadableFile("has no article text left after removing page boilerplate")
    title = doc.meta.get("title") or cleaned.text.split("\n", 1)[0].strip()
    meta = {
        "source": doc.path,
        "doc_hash": doc.sha256,
        "title": title[:300],
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
        # The headline names the story's key entities; passages after the first lack it.
        embed_text = span.text if span.text.startswith(title) else f"{title}\n{span.text}"
        out.append(PreparedChunk(chunk_id(doc.path, span.text, occurrence), span.text, embed_text, m))
    return out


@dataclass
class _PreparedFile:
    source: str
    existed: bool
    chunks: list[PreparedChunk] | None   # None: unchanged since the last sync
    problem: FileProblem | None = None


def _prepared(todo: list[tuple[Path, bool]], stored: dict, settings: Settings) -> Iterator[_PreparedFile]:
    """Each file to sync, read, cleaned and chunked; or why it is unchanged or unreadable."""
    for f, existed in todo:
        src = str(f)
        try:
            data_hash = loading.file_hash(f.read_bytes()) if existed else None
            if existed and stored[src].doc_hash == data_hash and stored[src].consistent:
                yield _PreparedFile(src, existed, None)
            else:
                yield _PreparedFile(src, existed, prepare(loading.read(f, settings.max_file_bytes), settings))
        except loading.UnreadableFile as e:
            yield _PreparedFile(src, existed, None, FileProblem(src, f"{Path(src).name} {e}"))
        except OSError as e:
            yield _PreparedFile(src, existed, None,
                                FileProblem(src, f"{Path(src).name} cannot be read ({e.strerror or e})"))


_DONE = object()


def _ahead(items: Iterator, depth: int) -> Iterator:
    """Yield what `items` yields, computed in a worker thread up to `depth` items ahead. An
    exception in the worker is raised here; leaving the loop early stops the worker."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(x) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for x in items:
                if not put(("item", x)):
                    return
            put(("done", _DONE))
        except BaseException as e:   # handed to the consuming thread, which raises it
            put(("error", e))

    worker = threading.Thread(target=work, name="ingest-prepare", daemon=True)
    worker.start()
    try:
        while True:
            kind, x = q.get()
            if kind == "done":
                return
            if kind == "error":
                raise x
            yield x
    finally:
        stop.set()
        worker.join()


def _under(path: str, folder: Path) -> bool:
    try:
        Path(path).relative_to(folder)
        return True
    except ValueError:
        return False


def sync(paths: list[str | Path], store: ChunkStore, embedder: Embedder, settings: Settings,
         progress: Progress | None = None, remove_missing: bool = True) -> IngestReport:
    """Bring the store in line with the given files and folders.

    Unchanged files are skipped, changed ones replace their chunks (re-embedding only chunks whose
    text is new), and files that disappeared from a given folder are removed from the store."""
    t0 = time.perf_counter()
    report = IngestReport()
    files, problems, folders = loading.discover(paths)
    report.failed += [FileProblem(p, why) for p, why in problems]
    stored = store.sources()

    todo: list[tuple[Path, bool]] = []
    for f in files:
        s = stored.get(str(f))
        todo.append((f, s is not None))

    bar = None
    if progress is None and len(todo) > 20 and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="file", desc="Ingesting", file=sys.stderr)

    pending: list[tuple[str, bool, list[PreparedChunk]]] = []
    pending_chunks = 0

    def flush():
        nonlocal pending, pending_chunks
        if not pending:
            return
        new = [(c, src) for src, _, chunks in pending for c in chunks if c.id not in known_ids]
        if new:
            vectors = embedder.passages([c.embed_text for c, _ in new])
            store.upsert([c.id for c, _ in new], vectors, [c.text for c, _ in new], [c.meta for c, _ in new])
            report.chunks_added += len(new)
        for src, existed, chunks in pending:
            reused = [c for c in chunks if c.id in known_ids]
            if reused:
                store.update_metadata([c.id for c in reused], [c.meta for c in reused])
            if existed:
                keep = {c.id for c in chunks}
                stale = [cid for cid in stored[src].ids if cid not in keep]
                store.delete(stale)
                report.chunks_removed += len(stale)
                report.updated.append(src)
            else:
                report.added.append(src)
        pending, pending_chunks = [], 0

    known_ids: set[str] = set()
    # Reading, cleaning and chunking run in a thread a few files ahead, so that they overlap with
    # the embedding of the files before (the model releases the GIL while it computes).
    for done, item in enumerate(_ahead(_prepared(todo, stored, settings), _PREPARE_AHEAD), 1):
        src = item.source
        if item.problem is not None:
            report.failed.append(item.problem)
        elif item.chunks is None:
            report.unchanged.append(src)
        else:
            if item.existed:
                known_ids.update(stored[src].ids)
            pending.append((src, item.existed, item.chunks))
            pending_chunks += len(item.chunks)
        if pending_chunks >= _EMBED_GROUP:
            flush()
        if bar:
            bar.update(1)
        if progress:
            progress(done, len(todo), Path(src).name)
    flush()
    if bar:
        bar.close()

    if remove_missing and folders:
        present = {str(f) for f in files}
        for src, s in stored.items():
            if src not in present and any(_under(src, folder) for folder in folders) and not Path(src).exists():
                store.delete(s.ids)
                report.chunks_removed += len(s.ids)
                report.removed.append(src)
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
