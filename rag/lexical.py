"""BM25 over German-stemmed tokens, persisted as JSON next to the store and updated in place.

Adding or removing a document touches only that document's postings; nothing is rebuilt per
query or per ingest."""
from __future__ import annotations

import json
import math
import os
import re
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
_WORD = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=None)
def stopwords(lang: str) -> frozenset[str]:
    path = DATA_DIR / f"stopwords_{lang}.txt"
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            words += line.split()
    return frozenset(words)


@lru_cache(maxsize=None)
def _stemmer(lang: str):
    import Stemmer

    return Stemmer.Stemmer({"de": "german", "en": "english"}[lang])


def tokenize(text: str, lang: str = "de") -> list[str]:
    stop = stopwords(lang)
    words = [w for w in _WORD.findall(text.lower()) if w not in stop]
    return _stemmer(lang).stemWords(words)


class BM25Index:
    def __init__(self, path: Path | None = None, k1: float = 1.2, b: float = 0.75, lang: str = "de"):
        self.path = path
        self.k1, self.b, self.lang = k1, b, lang
        self.docs: dict[str, dict[str, int]] = {}
        self.lengths: dict[str, int] = {}
        self.postings: dict[str, dict[str, int]] = defaultdict(dict)
        self.total_length = 0
        if path and path.exists():
            self._load()

    def __len__(self) -> int:
        return len(self.docs)

    def ids(self) -> set[str]:
        return set(self.docs)

    def add(self, doc_id: str, text: str) -> None:
        if doc_id in self.docs:
            self.remove(doc_id)
        tf = dict(Counter(tokenize(text, self.lang)))
        self.docs[doc_id] = tf
        self.lengths[doc_id] = sum(tf.values())
        self.total_length += self.lengths[doc_id]
        for term, n in tf.items():
            self.postings[term][doc_id] = n

    def remove(self, doc_id: str) -> None:
        tf = self.docs.pop(doc_id, None)
        if tf is None:
            return
        self.total_length -= self.lengths.pop(doc_id, 0)
        for term in tf:
            plist = self.postings.get(term)
            if plist is not None:
                plist.pop(doc_id, None)
                if not plist:
                    del self.postings[term]

    def search(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        n = len(self.docs)
        if not n:
            return []
        avg = self.total_length / n or 1.0
        scores: dict[str, float] = defaultdict(float)
        for term in set(tokenize(query, self.lang)):
            plist = self.postings.get(term)
            if not plist:
                continue
            idf = math.log(1 + (n - len(plist) + 0.5) / (len(plist) + 0.5))
            for doc_id, tf in plist.items():
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[doc_id] / avg)
                scores[doc_id] += idf * tf * (self.k1 + 1) / norm
        return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]

    def save(self) -> None:
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": 1, "lang": self.lang, "docs": self.docs}), encoding="utf-8")
        os.replace(tmp, self.path)   # atomic: a crash never leaves half an index

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return   # unreadable index: the store re-syncs it from Chroma
        for doc_id, tf in data.get("docs", {}).items():
            self.docs[doc_id] = tf
            self.lengths[doc_id] = sum(tf.values())
            self.total_length += self.lengths[doc_id]
            for term, n in tf.items():
                self.postings[term][doc_id] = n
