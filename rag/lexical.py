"""BM25 over German-stemmed tokens: one immutable numpy segment plus a small dict delta.

Why this shape: at 100k chunks, dict-of-dict postings cost gigabytes and a Python loop per
posting; postings in numpy arrays (term-major, like a CSC matrix) score a query term with a few
vectorised operations. A change (one ingested or removed article) goes into the small delta and a
tombstone mask over the segment, so applying it costs milliseconds; the delta is merged into a new
segment once it grows. Searches read one reference to an immutable state and never lock; changes
build the next state and swap it in under a lock, so a search never sees half a change.

The index is derived data: the store rebuilds and refreshes it from Chroma (rag/store.py); the
file written by save() is only a cache."""
from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import AbstractSet, Callable, Iterable

import numpy as np

DATA_DIR = Path(__file__).parent / "data"
_WORD = re.compile(r"\w+", re.UNICODE)
_FORMAT = 2
_MAX_TF = np.iinfo(np.uint16).max


@lru_cache(maxsize=None)
def stopwords(lang: str) -> frozenset[str]:
    path = DATA_DIR / f"stopwords_{lang}.txt"
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            words += line.split()
    return frozenset(words)


@lru_cache(maxsize=1)
def function_words() -> frozenset[str]:
    """German and English stopwords together (the corpus is German, questions come in both)."""
    return stopwords("de") | stopwords("en")


@lru_cache(maxsize=None)
def _stemmer(lang: str):
    import Stemmer

    return Stemmer.Stemmer({"de": "german", "en": "english"}[lang])


def tokenize(text: str, lang: str = "de") -> list[str]:
    stop = stopwords(lang)
    words = [w for w in _WORD.findall(text.lower()) if w not in stop]
    return _stemmer(lang).stemWords(words)


def term_counts(text: str, lang: str = "de") -> dict[str, int]:
    return dict(Counter(tokenize(text, lang)))


def content_key(tf: dict[str, int]) -> bytes:
    """A key of what a document holds (its term counts), the same wherever it is stored: search
    orders equal scores by it. Chunk ids hash the file's path (rag/ingest.chunk_id), so ties
    ordered by id alone ranked the same articles differently in stores at different paths."""
    text = "\n".join(f"{t}\t{n if n <= _MAX_TF else _MAX_TF}" for t, n in sorted(tf.items()))
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()


# --- the immutable segment ---------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """Documents in rows, terms in columns, stored twice: document-major (to drop a row and to
    merge segments) and term-major (to score a query term)."""
    ids: list[str]
    rows: dict[str, int]
    lengths: np.ndarray          # int32 [n]: tokens per document
    vocab: dict[str, int]        # term -> column; shared by later segments, only ever grows
    d_ptr: np.ndarray            # int64 [n+1]
    d_term: np.ndarray           # int32 [nnz]
    d_tf: np.ndarray             # uint16 [nnz]
    t_ptr: np.ndarray            # int64 [V+1]
    t_doc: np.ndarray            # int32 [nnz]
    t_tf: np.ndarray             # uint16 [nnz]
    # content_key per row, made when the row first ties with another (a few per search)
    row_keys: dict[int, bytes] = field(default_factory=dict, repr=False, compare=False)

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.lengths, self.d_ptr, self.d_term, self.d_tf, self.t_ptr,
                                      self.t_doc, self.t_tf))

    @cached_property
    def terms(self) -> list[str]:
        """Terms by column (columns are given in insertion order); built when first needed."""
        return list(self.vocab)

    def content_key(self, row: int) -> bytes:
        """content_key of a row, kept once made (rows never change; a race only makes it twice)."""
        key = self.row_keys.get(row)
        if key is None:
            lo, hi = self.d_ptr[row], self.d_ptr[row + 1]
            words = [self.terms[c] for c in self.d_term[lo:hi].tolist()]
            key = self.row_keys[row] = content_key(dict(zip(words, self.d_tf[lo:hi].tolist())))
        return key


def _segment(ids: list[str], lengths: np.ndarray, d_ptr: np.ndarray, d_term: np.ndarray,
             d_tf: np.ndarray, vocab: dict[str, int]) -> Segment:
    """Add the term-major copy to document-major arrays."""
    n_terms = len(vocab)
    row_of = np.repeat(np.arange(len(ids), dtype=np.int32), np.diff(d_ptr))
    order = np.argsort(d_term, kind="stable")
    t_ptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(np.bincount(d_term, minlength=n_terms), out=t_ptr[1:])
    return Segment(ids, {d: i for i, d in enumerate(ids)}, lengths.astype(np.int32), vocab,
                   d_ptr, d_term, d_tf, t_ptr, row_of[order], d_tf[order])


def _forward(docs: list[tuple[str, dict[str, int]]], vocab: dict[str, int]):
    """Document-major arrays for new documents; unseen terms are appended to `vocab`."""
    counts = np.fromiter((len(tf) for _, tf in docs), dtype=np.int64, count=len(docs))
    d_ptr = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(counts, out=d_ptr[1:])
    nnz = int(d_ptr[-1])
    d_term = np.fromiter((vocab.setdefault(t, len(vocab)) for _, tf in docs for t in tf),
                         dtype=np.int32, count=nnz)
    d_tf = np.fromiter((min(n, _MAX_TF) for _, tf in docs for n in tf.values()), dtype=np.uint16, count=nnz)
    lengths = np.fromiter((sum(tf.values()) for _, tf in docs), dtype=np.int64, count=len(docs))
    return d_ptr, d_term, d_tf, lengths


def build_segment(docs: list[tuple[str, dict[str, int]]], vocab: dict[str, int] | None = None) -> Segment:
    vocab = dict(vocab or {})
    d_ptr, d_term, d_tf, lengths = _forward(docs, vocab)
    return _segment([d for d, _ in docs], lengths, d_ptr, d_term, d_tf, vocab)


def merge_segment(seg: Segment, alive: np.ndarray, docs: list[tuple[str, dict[str, int]]]) -> Segment:
    """A new segment with the live rows of `seg` followed by `docs` (vectorised; no per-posting
    Python work for the old rows)."""
    vocab = dict(seg.vocab)
    counts = np.diff(seg.d_ptr)
    keep = np.repeat(alive, counts)
    n_ptr, n_term, n_tf, n_len = _forward(docs, vocab)
    old_counts = counts[alive]
    d_ptr = np.zeros(len(old_counts) + len(docs) + 1, dtype=np.int64)
    np.cumsum(np.concatenate([old_counts, np.diff(n_ptr)]), out=d_ptr[1:])
    ids = [seg.ids[i] for i in np.flatnonzero(alive)] + [d for d, _ in docs]
    return _segment(ids, np.concatenate([seg.lengths[alive].astype(np.int64), n_len]), d_ptr,
                    np.concatenate([seg.d_term[keep], n_term]), np.concatenate([seg.d_tf[keep], n_tf]),
                    vocab)


_EMPTY = build_segment([])


# --- the state readers see ---------------------------------------------------------------------
@dataclass(frozen=True)
class _State:
    seg: Segment
    alive: np.ndarray                      # bool [n]: segment rows not removed since
    df: np.ndarray                         # int32 [V]: live segment rows per term
    delta: dict[str, dict[str, int]]       # doc id -> term counts, for documents not in the segment
    dpost: dict[str, dict[str, int]]       # term -> {doc id: tf} over the delta
    n_docs: int
    total: int                             # tokens over all live documents

    @classmethod
    def of(cls, seg: Segment) -> "_State":
        alive = np.ones(len(seg.ids), dtype=bool)
        df = np.diff(seg.t_ptr).astype(np.int32)
        return cls(seg, alive, df, {}, {}, len(seg.ids), int(seg.lengths.sum()))


@dataclass
class _Change:
    """The next state, built copy-on-write from the current one."""
    base: _State
    alive: np.ndarray | None = None
    df: np.ndarray | None = None
    delta: dict = field(default_factory=dict)
    dpost: dict = field(default_factory=dict)
    copied_terms: set = field(default_factory=set)
    n_docs: int = 0
    total: int = 0

    def __post_init__(self):
        self.delta, self.dpost = dict(self.base.delta), dict(self.base.dpost)
        self.n_docs, self.total = self.base.n_docs, self.base.total

    def remove(self, doc_id: str) -> None:
        seg = self.base.seg
        row = seg.rows.get(doc_id)
        alive = self.alive if self.alive is not None else self.base.alive
        if row is not None and alive[row]:
            if self.alive is None:
                self.alive, self.df = self.base.alive.copy(), self.base.df.copy()
            self.alive[row] = False
            self.df[seg.d_term[seg.d_ptr[row]:seg.d_ptr[row + 1]]] -= 1
            self.n_docs -= 1
            self.total -= int(seg.lengths[row])
        tf = self.delta.pop(doc_id, None)
        if tf is not None:
            for term in tf:
                self._postings(term).pop(doc_id, None)
                if not self.dpost[term]:
                    del self.dpost[term]
            self.n_docs -= 1
            self.total -= sum(tf.values())

    def add(self, doc_id: str, tf: dict[str, int]) -> None:
        self.remove(doc_id)
        self.delta[doc_id] = tf
        for term, n in tf.items():
            self._postings(term)[doc_id] = n
        self.n_docs += 1
        self.total += sum(tf.values())

    def _postings(self, term: str) -> dict[str, int]:
        if term not in self.copied_terms:   # never mutate a dict a reader may be iterating
            self.dpost[term] = dict(self.dpost.get(term, ()))
            self.copied_terms.add(term)
        return self.dpost.setdefault(term, {})

    def state(self) -> _State:
        alive = self.alive if self.alive is not None else self.base.alive
        df = self.df if self.df is not None else self.base.df
        return _State(self.base.seg, alive, df, self.delta, self.dpost, self.n_docs, self.total)


def _compact(st: _State) -> _State:
    return _State.of(merge_segment(st.seg, st.alive, list(st.delta.items())))


def _lookup(st: _State, term: str) -> tuple[int | None, dict[str, int], int]:
    """(segment column or None, delta postings, document frequency) of a term in a snapshot."""
    col = st.seg.vocab.get(term)
    col = col if col is not None and col < len(st.df) else None
    dp = st.dpost.get(term) or {}
    return col, dp, (int(st.df[col]) if col is not None else 0) + len(dp)


def _best(st: _State, hits: list[tuple[str, float]], k: int) -> list[tuple[str, float]]:
    """The `k` best hits; equal scores in order of content_key, then of id (for chunks that hold
    the same words). Keys are only made for the ties that reach the top k."""
    if not hits:
        return []
    hits.sort(key=lambda kv: -kv[1])
    cut = hits[min(k, len(hits)) - 1][1]
    hits = [h for h in hits if h[1] >= cut]
    same = Counter(score for _, score in hits)

    def key(hit: tuple[str, float]):
        doc_id, score = hit
        if same[score] == 1:
            return -score, b"", doc_id
        tf = st.delta.get(doc_id)     # a document in the delta is not live in the segment
        tie = content_key(tf) if tf is not None else st.seg.content_key(st.seg.rows[doc_id])
        return -score, tie, doc_id

    return sorted(hits, key=key)[:k]


def _idf(n_docs: int, df: int) -> float:
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))


@dataclass
class _Keyed:
    """BM25Index.term_keys for one key function: how far the segment vocabulary is keyed."""
    columns: int = 0
    keys: dict = field(default_factory=dict)         # key -> the first term with it
    delta_terms: set = field(default_factory=set)    # delta terms not yet in a segment, keyed


# --- the index ---------------------------------------------------------------------------------
class BM25Index:
    """BM25 (k1, b) with exact document frequencies. Thread-safe: any number of searches may run
    while one thread applies changes."""

    def __init__(self, path: Path | None = None, k1: float = 1.2, b: float = 0.75, lang: str = "de",
                 compact_at: int = 2000):
        self.path = path
        self.k1, self.b, self.lang = k1, b, lang
        # The delta is merged into the segment when it exceeds this many documents or 5% of the segment.
        self.compact_at = compact_at
        self.marker: dict = {}     # what the cache file was derived from (set by the store)
        self._state = _State.of(_EMPTY)
        self._keys: dict[Callable[[str], str], _Keyed] = {}    # term_keys, per key function
        self._keys_lock = threading.Lock()
        self._write = threading.Lock()
        if path and path.exists():
            self._load()

    # --- reading ---
    def __len__(self) -> int:
        return self._state.n_docs

    @property
    def total_length(self) -> int:
        return self._state.total

    def ids(self) -> set[str]:
        st = self._state
        return {st.seg.ids[i] for i in np.flatnonzero(st.alive)} | set(st.delta)

    def nbytes(self) -> int:
        """Approximate memory of the arrays (the delta's dicts not counted)."""
        st = self._state
        return st.seg.nbytes() + st.alive.nbytes + st.df.nbytes

    def document_frequency(self, term: str) -> int:
        """How many indexed documents hold `term` (a token as `tokenize` makes it)."""
        return _lookup(self._state, term)[2]

    def term_keys(self, key: Callable[[str], str]) -> AbstractSet[str]:
        """`key(term)` of every term the index has held: a lookup modulo spelling (the claim
        check's "Lavrov" for the articles' "lawrow"). Kept per key function and extended by the
        terms added since the last call (a removed document's terms stay: for this lookup they
        only make a name checkable), so an archive's vocabulary is keyed once, not after every
        write. Read-only for callers; membership tests are safe while another call extends it."""
        return self._keyed(key).keys.keys()

    def spelled(self, key: Callable[[str], str], value: str) -> str | None:
        """A term the index has held whose `key(term)` is `value` (`term_keys`): how the articles
        spell a name ("lawrow" for the key of "Lavrov"), None when they do not have it."""
        return self._keyed(key).keys.get(value)

    def _keyed(self, key: Callable[[str], str]) -> _Keyed:
        with self._keys_lock:
            done = self._keys.setdefault(key, _Keyed())
            st = self._state
            vocab = st.seg.vocab          # columns in insertion order, only ever extended
            if len(vocab) > done.columns:
                for term in itertools.islice(vocab, done.columns, None):
                    done.keys.setdefault(key(term), term)
                done.columns = len(vocab)
            fresh = [t for t in st.dpost if t not in done.delta_terms and t not in vocab]
            for term in fresh:
                done.keys.setdefault(key(term), term)
            done.delta_terms.update(fresh)
            return done

    def rarity(self, term: str) -> float:
        """The term's BM25 weight over that of a term no document holds (0..1]: unlike the weight
        itself, comparable between an archive of five articles and one of thousands."""
        st = self._state
        return _idf(st.n_docs, _lookup(st, term)[2]) / _idf(st.n_docs, 0)

    def search(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        st = self._state    # one immutable snapshot for the whole query
        if not st.n_docs:
            return []
        avg = st.total / st.n_docs or 1.0
        seg_scores: np.ndarray | None = None
        delta_scores: dict[str, float] = {}
        for term in set(tokenize(query, self.lang)):
            col, dp, df = _lookup(st, term)
            if not df:
                continue
            idf = _idf(st.n_docs, df)
            if col is not None and st.df[col]:
                seg_scores = self._score_column(st, col, idf, avg, seg_scores)
            for doc_id, tf in dp.items():
                norm = tf + self.k1 * (1 - self.b + self.b * sum(st.delta[doc_id].values()) / avg)
                delta_scores[doc_id] = delta_scores.get(doc_id, 0.0) + idf * tf * (self.k1 + 1) / norm
        hits = list(delta_scores.items())
        if seg_scores is not None:
            hits += self._top_rows(st, seg_scores, k)
        return _best(st, hits, k)

    def _score_column(self, st: _State, col: int, idf: float, avg: float, scores: np.ndarray | None):
        seg = st.seg
        lo, hi = seg.t_ptr[col], seg.t_ptr[col + 1]
        rows = seg.t_doc[lo:hi]
        tf = seg.t_tf[lo:hi].astype(np.float64)
        norm = tf + self.k1 * (1 - self.b + self.b * seg.lengths[rows] / avg)
        if scores is None:
            scores = np.zeros(len(seg.ids), dtype=np.float64)
        scores[rows] += idf * tf * (self.k1 + 1) / norm    # rows are unique within a column
        return scores

    @staticmethod
    def _top_rows(st: _State, scores: np.ndarray, k: int) -> list[tuple[str, float]]:
        scores[~st.alive] = 0.0
        cand = np.flatnonzero(scores > 0)
        if len(cand) > k:
            kth = np.partition(scores[cand], len(cand) - k)[len(cand) - k]
            cand = cand[scores[cand] >= kth]     # keep ties: _best breaks them by content
        return [(st.seg.ids[i], float(scores[i])) for i in cand]

    # --- changing ---
    def add(self, doc_id: str, text: str) -> None:
        self.apply({doc_id: text}, ())

    def remove(self, doc_id: str) -> None:
        self.apply({}, (doc_id,))

    def apply(self, upserts: dict[str, str], removals: Iterable[str] = ()) -> None:
        """Add or replace documents {id: text} and remove ids, as one atomic step for readers."""
        counted = {doc_id: term_counts(text, self.lang) for doc_id, text in upserts.items()}
        with self._write:
            change = _Change(self._state)
            for doc_id in removals:
                change.remove(doc_id)
            for doc_id, tf in counted.items():
                change.add(doc_id, tf)
            st = change.state()
            if len(st.delta) > max(self.compact_at, len(st.seg.ids) // 20):
                st = _compact(st)
            self._state = st

    def rebuild(self, docs: dict[str, str]) -> None:
        """Replace everything with `docs` {id: text}, built in one pass."""
        seg = build_segment([(d, term_counts(t, self.lang)) for d, t in docs.items()])
        with self._write, self._keys_lock:
            self._state = _State.of(seg)
            self._keys.clear()      # a new vocabulary: term_keys starts over

    def clear(self) -> None:
        with self._write, self._keys_lock:
            self._state = _State.of(_EMPTY)
            self._keys.clear()

    # --- the cache file ---
    def save(self) -> None:
        if not self.path:
            return
        with self._write:
            if self._state.delta or not self._state.alive.all():
                self._state = _compact(self._state)
            seg = self._state.seg
            marker = dict(self.marker)
        header = {"version": _FORMAT, "lang": self.lang, "marker": marker}
        buf = io.BytesIO()
        np.savez(buf, header=_text_array(json.dumps(header)), ids=_text_array("\n".join(seg.ids)),
                 terms=_text_array("\n".join(sorted(seg.vocab, key=seg.vocab.get))),
                 lengths=seg.lengths, d_ptr=seg.d_ptr, d_term=seg.d_term, d_tf=seg.d_tf)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_bytes(buf.getbuffer())
        os.replace(tmp, self.path)   # atomic: a crash never leaves half an index

    def _load(self) -> None:
        try:
            with np.load(self.path, allow_pickle=False) as z:
                header = json.loads(_array_text(z["header"]))
                if header.get("version") != _FORMAT or header.get("lang") != self.lang:
                    return
                ids = _split(_array_text(z["ids"]))
                terms = _split(_array_text(z["terms"]))
                seg = _segment(ids, z["lengths"], z["d_ptr"], z["d_term"], z["d_tf"],
                               {t: i for i, t in enumerate(terms)})
        except (OSError, ValueError, KeyError, EOFError):
            return   # unreadable or old-format cache: the store re-derives the index from Chroma
        self.marker = header.get("marker") or {}
        self._state = _State.of(seg)


def _text_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _array_text(a: np.ndarray) -> str:
    return a.tobytes().decode("utf-8")


def _split(text: str) -> list[str]:
    return text.split("\n") if text else []
