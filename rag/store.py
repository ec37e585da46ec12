"""Chroma (embedded or server) plus the BM25 index derived from it.

Chroma is the only source of truth: every chunk carries its file's path and content hash, so the
set of ingested files, their versions and their chunk ids are read back from it. The lexical
index is derived state of each process: built from the collection, kept current through the
change log every writer appends to (rag/changes.py), and cached in a local file only to start
faster. Several processes may therefore share one Chroma server (docs/deploy.md)."""
from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import fasteners
import numpy as np

from .changes import ChangeLog, Entry, Follower, now_us
from .lexical import BM25Index
from .results import RagError, StoreUnreachable
from .settings import Settings

_BATCH = 500
log = logging.getLogger(__name__)


@dataclass
class StoredSource:
    source: str
    doc_hash: str
    ids: list[str] = field(default_factory=list)
    title: str = ""
    outlet: str = ""
    date: str = ""
    url: str = ""
    consistent: bool = True   # all chunks from one version of the file, none missing
    prep: int = 0             # rag.ingest.PREP_VERSION the chunks were prepared with (0: before versions)


def _client(settings: Settings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        u = urlparse(settings.chroma_url if "://" in settings.chroma_url else "http://" + settings.chroma_url)
        if not u.hostname:
            raise RagError(f"RAG_CHROMA_URL={settings.chroma_url!r} is not a valid URL.")
        try:
            return chromadb.HttpClient(host=u.hostname, port=u.port or (443 if u.scheme == "https" else 8000),
                                       ssl=u.scheme == "https", settings=chroma_settings)
        except Exception:  # chromadb raises several types for an unreachable server
            raise StoreUnreachable(settings.chroma_url) from None
    path = Path(settings.store_dir) / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


@contextmanager
def _opening(settings: Settings):
    """Processes opening one embedded store take turns: the first creates Chroma's tables and
    collections, and two doing that at once fail ("table collections already exists", "database
    is locked"), e.g. two CLI ingests started together into a new store."""
    if settings.chroma_url:
        yield
        return
    folder = Path(settings.store_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(folder / "open.lock")):
        yield


class ChunkStore:
    def __init__(self, settings: Settings, embedding_model: str):
        self.settings = settings
        with _opening(settings):
            self.client = _client(settings)
            # Vectors always come from our embedder; embedding_function=None keeps Chroma from
            # downloading its own default model.
            self.collection = self.client.get_or_create_collection(
                settings.collection, embedding_function=None,
                metadata={"hnsw:space": "cosine", "embedding_model": embedding_model})
            built_with = (self.collection.metadata or {}).get("embedding_model")
            if built_with and built_with != embedding_model:
                raise RagError(
                    f"The store '{settings.collection}' was built with the embedding model '{built_with}', "
                    f"not '{embedding_model}'. Use another store directory or collection, or re-ingest.")
            self.changes = ChangeLog(self.client, settings.collection, settings.changelog_retention_seconds)
        name = "lexical.npz" if not settings.chroma_url else f"lexical-{settings.collection}.npz"
        self.lexical = BM25Index(Path(settings.store_dir) / name, lang=settings.corpus_language)
        self._refresh_lock = threading.Lock()
        self._last_poll = 0.0          # time.monotonic() of the last look at the change log
        self._sync_lexical()

    # --- reading -------------------------------------------------------------------------
    def count(self) -> int:
        return self.collection.count()

    def all_ids(self) -> set[str]:
        ids: set[str] = set()
        total = self.count()
        for offset in range(0, total, 5000):
            ids.update(self.collection.get(include=[], limit=5000, offset=offset)["ids"])
        return ids

    def sources(self) -> dict[str, StoredSource]:
        out: dict[str, StoredSource] = {}
        expected: dict[str, int] = {}
        total = self.count()
        for offset in range(0, total, 5000):
            got = self.collection.get(include=["metadatas"], limit=5000, offset=offset)
            for cid, meta in zip(got["ids"], got["metadatas"]):
                s = out.get(meta["source"])
                if s is None:
                    s = out[meta["source"]] = StoredSource(
                        meta["source"], meta.get("doc_hash", ""), title=meta.get("title", ""),
                        outlet=meta.get("outlet", ""), date=meta.get("date", ""), url=meta.get("url", ""),
                        prep=int(meta.get("prep", 0)))
                    expected[s.source] = int(meta.get("n_chunks", 0))
                elif s.doc_hash != meta.get("doc_hash") or s.prep != int(meta.get("prep", 0)):
                    s.consistent = False
                s.ids.append(cid)
        for s in out.values():
            if expected[s.source] != len(s.ids):
                s.consistent = False
        return out

    def get(self, ids: list[str], with_embeddings: bool = False) -> dict[str, dict]:
        if not ids:
            return {}
        include = ["documents", "metadatas"] + (["embeddings"] if with_embeddings else [])
        got = self.collection.get(ids=list(ids), include=include)
        out = {}
        for i, cid in enumerate(got["ids"]):
            out[cid] = {"text": got["documents"][i], "meta": got["metadatas"][i]}
            if with_embeddings:
                out[cid]["embedding"] = np.asarray(got["embeddings"][i], dtype=np.float32)
        return out

    def dense(self, embedding: np.ndarray, k: int, where: dict | None = None) -> list[tuple[str, float]]:
        """(id, cosine similarity), best first. Chroma returns fewer than k when it holds fewer
        (no count() first: that would be one more round trip to a server per question)."""
        res = self.collection.query(query_embeddings=[embedding.tolist()], n_results=k,
                                    where=where or None, include=["distances"])
        return [(cid, 1.0 - float(d)) for cid, d in zip(res["ids"][0], res["distances"][0])]

    # --- writing -------------------------------------------------------------------------
    # Every write goes to Chroma first, then into the change log (so a replica that sees the entry
    # also sees the chunks), then into this process's own index.
    def upsert(self, ids: list[str], embeddings: np.ndarray, texts: list[str], metas: list[dict]) -> None:
        for i in range(0, len(ids), _BATCH):
            sl = slice(i, i + _BATCH)
            self.collection.upsert(ids=ids[sl], embeddings=embeddings[sl].tolist(),
                                   documents=texts[sl], metadatas=metas[sl])
            entry = self.changes.record("upsert", ids[sl])
            self._apply_own(entry, {cid: lexical_text(t, m) for cid, t, m in zip(ids[sl], texts[sl], metas[sl])})

    def update_metadata(self, ids: list[str], metas: list[dict]) -> None:
        for i in range(0, len(ids), _BATCH):
            self.collection.update(ids=ids[i:i + _BATCH], metadatas=metas[i:i + _BATCH])
            entry = self.changes.record("update", ids[i:i + _BATCH])
            with self._refresh_lock:     # the title is part of the indexed text
                self._reconcile(set(entry.chunk_ids))
                self.follower.mark([entry])

    def delete(self, ids: list[str]) -> None:
        ids = list(ids)
        for i in range(0, len(ids), _BATCH):
            self.collection.delete(ids=ids[i:i + _BATCH])
            entry = self.changes.record("delete", ids[i:i + _BATCH])
            self._apply_own(entry, {}, entry.chunk_ids)

    def _apply_own(self, entry: Entry, upserts: dict[str, str], removals: list[str] = ()) -> None:
        with self._refresh_lock:
            self.lexical.apply(upserts, removals)
            self.follower.mark([entry])

    def save(self) -> None:
        """Write the local cache of the lexical index, with the log position it reflects."""
        with self._refresh_lock:
            self.lexical.marker = self._marker()
            self.lexical.save()

    # --- keeping the lexical index derived from Chroma -----------------------------------
    def lexical_search(self, query: str, k: int) -> list[tuple[str, float]]:
        """BM25 over what Chroma holds now (as of the last change-log check, at most
        lexical_refresh_seconds ago)."""
        self.refresh_lexical()
        return self.lexical.search(query, k)

    def refresh_lexical(self, force: bool = False) -> int:
        """Apply other writers' changes from the change log; returns how many chunk ids changed."""
        if not force and time.monotonic() - self._last_poll < self.settings.lexical_refresh_seconds:
            return 0
        with self._refresh_lock:
            if time.monotonic() - self._last_poll > self.settings.changelog_retention_seconds / 2:
                self._last_poll = time.monotonic()    # away too long: the log may have been pruned
                started = now_us()
                changed = self._reconcile_all()
                self.follower.watermark = max(self.follower.watermark, started)
                return changed
            self._last_poll = time.monotonic()
            entries = self.follower.poll()
            if not entries:
                return 0
            changed = {cid for e in entries for cid in e.chunk_ids}
            self._reconcile(changed)
            self.follower.mark(entries)
            log.debug("lexical index: %d change(s) from %d log entries", len(changed), len(entries))
            return len(changed)

    def _reconcile(self, ids: set[str]) -> None:
        """Make the index agree with Chroma on `ids`: present ones (re)indexed, others removed."""
        items = {}
        ordered = sorted(ids)
        for i in range(0, len(ordered), _BATCH):
            items.update(self.get(ordered[i:i + _BATCH]))
        self.lexical.apply({cid: lexical_text(it["text"], it["meta"]) for cid, it in items.items()},
                           [cid for cid in ids if cid not in items])

    def _reconcile_all(self) -> int:
        """Compare the whole id sets (one page of ids per 5000 chunks): catches what the log
        cannot tell, e.g. a writer that crashed between writing chunks and logging them."""
        chroma_ids = self.all_ids()
        lexical_ids = self.lexical.ids()
        missing, extra = chroma_ids - lexical_ids, lexical_ids - chroma_ids
        if missing or extra:
            items = {}
            ordered = sorted(missing)
            for i in range(0, len(ordered), 5000):
                items.update(self.get(ordered[i:i + 5000]))
            texts = {cid: lexical_text(it["text"], it["meta"]) for cid, it in items.items()}
            if not lexical_ids:
                self.lexical.rebuild(texts)      # one pass instead of many deltas
            else:
                self.lexical.apply(texts, extra)
        return len(missing) + len(extra)

    def _marker(self) -> dict:
        return {"collection_id": str(self.collection.id), "watermark": self.follower.watermark}

    def _sync_lexical(self) -> None:
        """At start: a cache derived from this very collection and younger than the log's
        retention is brought up to date by replaying the log; anything else is compared id by id
        with Chroma (and rebuilt when there is no cache)."""
        started = now_us()
        marker = self.lexical.marker
        if marker.get("collection_id") != str(self.collection.id):
            self.lexical.clear()
            marker = {}
        watermark = int(marker.get("watermark", 0))
        fresh = bool(marker) and watermark >= started - self.settings.changelog_retention_seconds * 1e6
        self.follower = Follower(self.changes, watermark if fresh else started,
                                 self.settings.changelog_overlap_seconds)
        with self._refresh_lock:
            changed = 0 if fresh else self._reconcile_all()
            self._last_poll = time.monotonic()
        changed += self.refresh_lexical(force=True)
        if fresh and self.count() != len(self.lexical):
            # Something the log does not tell (a writer stopped between writing and logging).
            with self._refresh_lock:
                changed += self._reconcile_all()
        if changed or not marker:
            self.save()


def lexical_text(text: str, meta: dict) -> str:
    """What BM25 indexes for a chunk: its title too, since headlines name the key entities."""
    title = meta.get("title", "")
    return text if not title or text.startswith(title) else f"{title}\n{text}"


def segments_json(segments: list[tuple[int, int, int]], start: int, end: int) -> str:
    """The cleaned-to-source offset map restricted to one chunk, for its metadata."""
    return json.dumps([list(s) for s in segments if s[0] < end and s[0] + s[2] > start])
