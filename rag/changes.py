"""The change log every writer appends to in Chroma, and a reader that follows it.

Several app replicas may share one Chroma server. Each derives its own BM25 index from the
collection, so each must learn which chunks another replica wrote or deleted. Chroma 1.5 has no
change feed and no atomic counter, so writers append one entry per write to a small side
collection "<collection>-changes": the chunk ids touched and the writer's clock. An entry says
only *which* ids changed, never what they are now: a reader re-reads those ids from the chunk
collection, so entries may be applied in any order, twice, or late, and the result is still what
Chroma holds.

Clocks of different hosts disagree a little, so a reader re-reads the entries of the last
`overlap` seconds before its newest seen entry and skips the ones it already applied. Entries
older than `retention` are deleted by writers; a reader that has not looked for longer than that
re-derives its index from the collection's ids instead."""
from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass

log = logging.getLogger(__name__)

_PRUNE_EVERY = 600.0   # seconds between a writer's clean-ups of old entries


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True)
class Entry:
    id: str
    t: int              # writer's clock, microseconds since the epoch
    op: str             # "upsert", "update" or "delete": for people reading the log
    chunk_ids: list[str]


class ChangeLog:
    def __init__(self, client, collection_name: str, retention: float):
        self.name = f"{collection_name}-changes"
        self.retention = retention
        # Vectors are required by Chroma but meaningless here: one constant dimension.
        self.collection = client.get_or_create_collection(
            self.name, embedding_function=None,
            metadata={"about": f"change log of '{collection_name}' for replicas (rag/changes.py)"})
        self._last_prune = 0.0

    def record(self, op: str, chunk_ids: list[str]) -> Entry:
        """Append one entry; call after the chunks themselves were written, so a reader that
        sees the entry also sees the chunks."""
        entry = Entry(f"{now_us():017d}-{uuid.uuid4().hex[:12]}", now_us(), op, list(chunk_ids))
        self.collection.add(ids=[entry.id], embeddings=[[1.0]], documents=[""],
                            metadatas=[{"t": entry.t, "op": op, "ids": json.dumps(entry.chunk_ids)}])
        if time.monotonic() - self._last_prune > _PRUNE_EVERY:
            self.prune()
        return entry

    def prune(self) -> None:
        self._last_prune = time.monotonic()
        cutoff = now_us() - int(self.retention * 1e6)
        self.collection.delete(where={"t": {"$lt": cutoff}})

    def entry_ids_since(self, t: int) -> list[str]:
        """Ids of the entries written at or after `t` (one cheap call: no payload)."""
        return self.collection.get(where={"t": {"$gte": t}}, include=[])["ids"]

    def entries(self, ids: list[str]) -> list[Entry]:
        got = self.collection.get(ids=ids, include=["metadatas"])
        return [Entry(i, int(m["t"]), str(m.get("op", "")), json.loads(m.get("ids", "[]")))
                for i, m in zip(got["ids"], got["metadatas"])]


class Follower:
    """Which log entries this process has applied. Not thread-safe: the store calls it under its
    refresh lock."""

    def __init__(self, log_: ChangeLog, watermark: int, overlap: float):
        self.log = log_
        self.watermark = watermark     # newest entry time applied (or the start of a full re-read)
        self.overlap_us = int(overlap * 1e6)
        self.applied: dict[str, int] = {}     # entry id -> t, for entries inside the overlap window

    def poll(self) -> list[Entry]:
        """Entries not applied yet (usually none: then this cost one small request)."""
        ids = self.log.entry_ids_since(self.watermark - self.overlap_us)
        new = [i for i in ids if i not in self.applied]
        return self.log.entries(new) if new else []

    def mark(self, entries: list[Entry]) -> None:
        for e in entries:
            self.applied[e.id] = e.t
            self.watermark = max(self.watermark, e.t)
        floor = self.watermark - self.overlap_us
        self.applied = {i: t for i, t in self.applied.items() if t >= floor}
