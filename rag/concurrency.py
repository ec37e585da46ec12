"""Many callers at once: a readers-writer guard around the store, one writer per store across
processes, and a clear sentence when the Chroma server is gone.

The UI serves several users from threads, and a CLI ingest may write to the same embedded store
while the app runs. Reads (search, article list, counts) run in parallel; each store update takes
a short exclusive lock, so the BM25 postings are never read while a write changes them, and the
slow part of a write (cleaning, embedding) never holds that lock."""
from __future__ import annotations

import functools
import logging
import threading
from contextlib import contextmanager
from pathlib import Path

import fasteners

from .results import RagError, StoreUnreachable

log = logging.getLogger(__name__)

# ChunkStore methods that only read. Anything else callable is treated as a write: a method added
# later is then safe by default (exclusive), at worst slower.
# lexical_search may refresh the BM25 index from Chroma's change log; the index does that under its
# own lock and swaps in the new state whole (rag/lexical.py), so it is a read here.
_READS = frozenset({"count", "all_ids", "sources", "get", "dense", "lexical_search"})
_LEXICAL_READS = frozenset({"search", "ids", "__len__", "document_frequency", "rarity", "term_keys",
                            "spelled"})


def _transport_errors() -> tuple[type[BaseException], ...]:
    try:
        import httpx
    except ImportError:   # embedded-only installs never talk HTTP
        return ()
    return (httpx.TransportError,)


def translate(url: str):
    """Decorator: a lost connection to the Chroma server becomes StoreUnreachable(url)."""
    errors = _transport_errors()

    def wrap(fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except errors as e:
                log.debug("Chroma server at %s unreachable: %s", url, e)
                raise StoreUnreachable(url) from None
        return call if url and errors else fn
    return wrap


class _Guarded:
    """Delegates to `target`; names in `reads` run under the shared lock, other methods under the
    exclusive one; plain attributes pass through."""

    def __init__(self, target, lock: fasteners.ReaderWriterLock, reads: frozenset[str], url: str):
        self._target, self._lock, self._reads, self._url = target, lock, reads, url

    def __getattr__(self, name: str):
        attr = getattr(self._target, name)
        if not callable(attr) or name.startswith("__"):
            return attr
        lock = self._lock.read_lock if name in self._reads else self._lock.write_lock

        @translate(self._url)
        def locked(*args, **kwargs):
            with lock():
                return attr(*args, **kwargs)
        return locked


class _GuardedLexical(_Guarded):
    def __len__(self) -> int:
        with self._lock.read_lock():
            return len(self._target)


class GuardedStore(_Guarded):
    """A ChunkStore shared by threads. `store.lexical` is guarded by the same lock, so a BM25 search
    never sees postings half-updated by an ingest."""

    def __init__(self, store, lock: fasteners.ReaderWriterLock | None = None):
        lock = lock or fasteners.ReaderWriterLock()
        url = store.settings.chroma_url or ""
        super().__init__(store, lock, _READS, url)
        self.lexical = _GuardedLexical(store.lexical, lock, _LEXICAL_READS, url)

    @property
    def inner(self):
        """The unguarded ChunkStore (for tests and tools that run alone)."""
        return self._target


class WriterLock:
    """One writer per store: a thread lock for this process, a file lock in the store directory for
    other processes (a CLI ingest while the app runs). A second writer waits up to `wait_s`
    seconds, then gets a clear sentence instead of writing beside the first."""

    def __init__(self, store_dir: Path, wait_s: float):
        self.path = Path(store_dir) / "write.lock"
        self.wait_s = wait_s
        self._thread_lock = threading.Lock()

    @contextmanager
    def hold(self, notify=None):
        if not self._thread_lock.acquire(timeout=max(self.wait_s, 0.001)):
            raise RagError("Another ingest or delete is running; please try again when it has finished.")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            process_lock = fasteners.InterProcessLock(str(self.path))
            if not process_lock.acquire(blocking=False):
                if notify:
                    notify("Another process is writing to this store; waiting for it to finish ...")
                log.info("Waiting up to %.0f s for the store write lock %s", self.wait_s, self.path)
                if not process_lock.acquire(timeout=self.wait_s):
                    raise RagError(
                        f"Another process is writing to the store in {self.path.parent}; "
                        f"nothing was changed. Try again when it has finished.")
            try:
                yield
            finally:
                process_lock.release()
        finally:
            self._thread_lock.release()
