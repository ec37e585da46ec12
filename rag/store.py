"""Chroma (embedded or server) plus the BM25 index kept beside it.

Chroma is the source of truth: every chunk carries its file's path and content hash, so the set of
ingested files, their versions and their chunk ids are read back from it. The lexical index is a
derived copy and is re-synced from Chroma whenever the two disagree."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from .lexical import BM25Index
from .results import RagError, StoreUnreachable
from .settings import Settings

_BATCH = 500


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


class ChunkStore:
    def __init__(self, settings: Settings, embedding_model: str):
        self.settings = settings
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
        name = "lexical.json" if not settings.chroma_url else f"lexical-{settings.collection}.json"
        self.lexical = BM25Index(Path(settings.store_dir) / name, lang=settings.corpus_language)
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
        """(id, cosine similarity), best first."""
        n = self.count()
        if not n:
            return []
        res = self.collection.query(query_embeddings=[embedding.tolist()], n_results=min(k, n),
                                    where=where or None, include=["distances"])
        return [(cid, 1.0 - float(d)) for cid, d in zip(res["ids"][0], res["distances"][0])]

    # --- writing -------------------------------------------------------------------------
    def upsert(self, ids: list[str], embeddings: np.ndarray, texts: list[str], metas: list[dict]) -> None:
        for i in range(0, len(ids), _BATCH):
            sl = slice(i, i + _BATCH)
            self.collection.upsert(ids=ids[sl], embeddings=embeddings[sl].tolist(),
                                   documents=texts[sl], metadatas=metas[sl])
        for cid, text, meta in zip(ids, texts, metas):
            self.lexical.add(cid, lexical_text(text, meta))

    def update_metadata(self, ids: list[str], metas: list[dict]) -> None:
        for i in range(0, len(ids), _BATCH):
            self.collection.update(ids=ids[i:i + _BATCH], metadatas=metas[i:i + _BATCH])

    def delete(self, ids: list[str]) -> None:
        ids = list(ids)
        for i in range(0, len(ids), _BATCH):
            self.collection.delete(ids=ids[i:i + _BATCH])
        for cid in ids:
            self.lexical.remove(cid)

    def save(self) -> None:
        self.lexical.save()

    def _sync_lexical(self) -> None:
        chroma_ids = self.all_ids()
        lexical_ids = self.lexical.ids()
        if chroma_ids == lexical_ids:
            return
        for cid in lexical_ids - chroma_ids:
            self.lexical.remove(cid)
        missing = sorted(chroma_ids - lexical_ids)
        for i in range(0, len(missing), _BATCH):
            for cid, item in self.get(missing[i:i + _BATCH]).items():
                self.lexical.add(cid, lexical_text(item["text"], item["meta"]))
        self.lexical.save()


def lexical_text(text: str, meta: dict) -> str:
    """What BM25 indexes for a chunk: its title too, since headlines name the key entities."""
    title = meta.get("title", "")
    return text if not title or text.startswith(title) else f"{title}\n{text}"


def segments_json(segments: list[tuple[int, int, int]], start: int, end: int) -> str:
    """The cleaned-to-source offset map restricted to one chunk, for its metadata."""
    return json.dumps([list(s) for s in segments if s[0] < end and s[0] + s[2] > start])
