"""The numpy BM25 index: same scores as textbook BM25 through adds, removals and merges; searches
safe while changes are applied; the cache file is only trusted for what it was derived from."""
import hashlib
import math
import random
import threading
from collections import Counter

from rag.lexical import BM25Index, content_key, term_counts, tokenize

WORDS = ("Regierung Kanzler Wien Berlin Wahl Partei Fußball Spiel Tor Trainer Börse Aktie Bank Zins "
         "Inflation Klima Wetter Sturm Regen Schule Lehrer Kreml Peskow Lawrow").split()


def reference_bm25(docs: dict[str, str], query: str, k: int, k1=1.2, b=0.75):
    """BM25 written out directly from the formula, over the documents as they are now."""
    tfs = {d: Counter(tokenize(t)) for d, t in docs.items()}
    n = len(tfs)
    avg = sum(sum(tf.values()) for tf in tfs.values()) / n
    scores = {}
    for term in set(tokenize(query)):
        df = sum(1 for tf in tfs.values() if term in tf)
        if not df:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for d, tf in tfs.items():
            if term in tf:
                norm = tf[term] + k1 * (1 - b + b * sum(tf.values()) / avg)
                scores[d] = scores.get(d, 0.0) + idf * tf[term] * (k1 + 1) / norm
    return sorted(scores.items(), key=lambda kv: (-kv[1], content_key(tfs[kv[0]]), kv[0]))[:k]


def test_scores_equal_textbook_bm25_through_changes_and_merges():
    rng = random.Random(3)
    index = BM25Index(compact_at=7)      # merges the delta into the segment often
    docs: dict[str, str] = {}
    held: set[str] = set()
    merges = 0
    for step in range(500):
        if docs and rng.random() < 0.3:
            victim = rng.choice(sorted(docs))
            index.remove(victim)
            del docs[victim]
        else:
            doc_id = f"d{rng.randrange(200)}"
            docs[doc_id] = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 30)))
            held |= set(tokenize(docs[doc_id]))
            before = len(index._state.seg.ids)
            index.add(doc_id, docs[doc_id])
            merges += len(index._state.seg.ids) != before
        if step % 25 == 0 and docs:
            for q in ("Wien Wahl", "Börse Zins Bank", "Sturm", "Peskow Kreml Lawrow"):
                got, want = index.search(q, 8), reference_bm25(docs, q, 8)
                assert [d for d, _ in got] == [d for d, _ in want]
                assert all(abs(x - y) < 1e-9 for (_, x), (_, y) in zip(got, want))
            # Document frequencies and weights of single terms, as the reader and the claim
            # check ask for them, agree with the documents as they are now.
            for term in ("wien", "peskow", "nichtda"):
                df = sum(term in tokenize(t) for t in docs.values())
                assert index.document_frequency(term) == df
                want_idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
                unseen = math.log(1 + (len(docs) + 0.5) / 0.5)
                assert abs(index.rarity(term) - want_idf / unseen) < 1e-9 and 0 < index.rarity(term) <= 1
            # Every term the index has held, by a key, kept up to date through adds and merges.
            assert index.term_keys(str.upper) == {t.upper() for t in held}
    assert merges > 5
    assert index.ids() == set(docs) and len(index) == len(docs)


def test_equal_scores_rank_the_same_wherever_the_store_is():
    """Chunk ids hash the file's path, so one archive stored at two paths has other ids; equal
    scores used to be ordered by id, and the top hits differed between the two stores."""
    texts = [f"Berlin {w}" for w in WORDS if w != "Berlin"][:12]    # all score the same for "Berlin"
    ranked = []
    for path in ("/home/a/store", "/srv/b/store"):
        ids = {t: hashlib.sha256(f"{path}\x00{t}".encode()).hexdigest()[:16] for t in texts}   # as chunk_id
        for compact_at in (1000, 3):      # in the delta, and merged into segments
            index = BM25Index(compact_at=compact_at)
            for t in texts:
                index.add(ids[t], t)
            by_id = {v: t for t, v in ids.items()}
            hits = index.search("Berlin", 4)
            assert len({score for _, score in hits}) == 1
            ranked.append([by_id[d] for d, _ in hits])
    assert all(r == ranked[0] for r in ranked), ranked
    assert len(ranked[0]) == 4
    keys = [content_key(term_counts(t)) for t in ranked[0]]
    assert keys == sorted(keys)


def test_term_keys_follow_adds_merges_and_rebuilds():
    """term_keys is extended by what was added since the last call (not recomputed per write),
    keeps terms through merges into the segment, and starts over when the index is rebuilt."""
    index = BM25Index(compact_at=2)
    index.add("a", "Lawrow besucht Pjöngjang")
    assert index.term_keys(str.upper) == {t.upper() for t in tokenize("Lawrow besucht Pjöngjang")}
    for n, text in enumerate(["Schoigu reist", "Peskow sagt", "Kirby warnt", "Sacharowa droht"]):
        index.add(f"d{n}", text)          # the delta is merged into the segment along the way
    keys = index.term_keys(str.upper)
    assert {"SCHOIGU", "PESKOW", "KIRBY", "SACHAROWA", "LAWROW"} <= keys
    assert len(index._state.seg.ids) > 1
    # The term behind a key: how the articles spell a name.
    assert index.spelled(str.upper, "SCHOIGU") == "schoigu" and index.spelled(str.upper, "SHOIGU") is None
    index.rebuild({"x": "Nebensja spricht"})
    assert index.term_keys(str.upper) == {t.upper() for t in tokenize("Nebensja spricht")}
    index.clear()
    assert index.term_keys(str.upper) == set()


def test_searches_run_safely_while_changes_are_applied():
    index = BM25Index(compact_at=50)
    index.apply({f"base{i}": f"Wien Wahl Partei {i}" for i in range(300)})
    errors, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                hits = index.search("Wien Wahl Sturm", 20)
                assert hits and all(d.startswith(("base", "new")) for d, _ in hits)
            except Exception as e:      # noqa: BLE001 - any failure in a reader fails the test
                errors.append(e)
                return

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(400):     # many changes, several merges, while the readers search
        index.apply({f"new{i}": "Sturm über Wien"}, [f"base{i % 300}"] if i % 2 else [])
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert len(index) == 300 - 150 + 400


def test_cache_file_round_trip_and_unreadable_cache(tmp_path):
    path = tmp_path / "lexical.npz"
    index = BM25Index(path)
    index.apply({"1": "Der Kremlsprecher Peskow", "2": "Wetter in Berlin"})
    index.marker = {"collection_id": "abc", "watermark": 5}
    index.save()
    again = BM25Index(path)
    assert again.marker == {"collection_id": "abc", "watermark": 5}
    assert again.ids() == {"1", "2"} and again.search("Peskow")[0][0] == "1"
    path.write_text('{"version": 1, "docs": {"9": {"alt": 1}}}')     # the former JSON format
    stale = BM25Index(path)
    assert len(stale) == 0 and stale.marker == {}
