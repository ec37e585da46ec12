"""Two app replicas on one real `chroma run` server: this process's Assistant (A) and one in a
separate process (B, tests/replica_worker.py), each with its own local store directory. What one
writes, the other's lexical and hybrid search see on its next query; concurrent ingest of the
same folder leaves one copy of each chunk."""
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from test_chroma_server import chroma_server, free_port  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Was beschloss der Quokkazüchterverband in Kärnten?"
ARTICLE = """Quokkazüchterverband beschließt Umzug nach Kärnten

Klagenfurt – Der Quokkazüchterverband hat am Dienstag beschlossen, seinen Sitz von Graz nach
Klagenfurt zu verlegen. Die Mitglieder stimmten mit großer Mehrheit für den Umzug, wie der
Verbandsobmann mitteilte. Die Quokkas selbst bleiben in ihren Gehegen in der Steiermark.
"""


class Replica:
    """Replica B: an Assistant in another Python process."""

    def __init__(self, env: dict):
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "replica_worker.py")],
                                     cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        assert json.loads(self.proc.stdout.readline()) == {"ready": True}

    def send(self, **cmd) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def reply(self) -> dict:
        line = self.proc.stdout.readline()
        assert line, "replica B died"
        return json.loads(line)

    def __call__(self, **cmd) -> dict:
        self.send(**cmd)
        return self.reply()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture
def replicas(make_assistant, chroma_server, tmp_path):
    common = dict(chroma_url=chroma_server, collection="replicas", lexical_refresh_seconds=0)
    a = make_assistant(seed=False, store_dir=tmp_path / "a", **common)
    env = dict(os.environ, PYTHONPATH=str(ROOT), RAG_STORE_DIR=str(tmp_path / "b"),
               **{f"RAG_{k.upper()}": str(v) for k, v in common.items()})
    b = Replica(env)
    yield a, b
    b.close()


def expected_ids(files, settings) -> set[str]:
    from rag.ingest import prepare
    from rag.loading import read

    return {c.id for f in files for c in prepare(read(f, settings.max_file_bytes), settings)}


def test_replicas_see_each_others_writes(replicas, tmp_path):
    a, b = replicas
    folder = tmp_path / "articles"
    shutil.copytree(a.settings.seeds_dir, folder)

    # Both replicas ingest the same folder at the same time.
    b.send(op="ingest", paths=[str(folder)])
    worker = threading.Thread(target=lambda: a.ingest([folder]))
    worker.start()
    worker.join()
    b_report = b.reply()
    assert not b_report["failed"]
    want = expected_ids(sorted(folder.glob("*.txt")), a.settings)
    stored = a.store.collection.get(include=[])["ids"]
    assert len(stored) == len(want) and set(stored) == want     # one copy of each chunk, no strays
    assert all(s.consistent for s in a.store.sources().values())
    a.search(QUESTION, mode="lexical")      # a search brings the index up to date
    assert a.store.lexical.ids() == want
    assert set(b(op="lexical_ids")["ids"]) == want

    # Ingested through B: A finds it with its lexical and its hybrid search.
    article = folder / "quokka.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    source = str(article.resolve())
    assert source not in [p.source for p in a.search(QUESTION, mode="lexical")]
    assert b(op="ingest", paths=[str(article)])["added"] == [source]
    assert a.search(QUESTION, mode="lexical")[0].source == source
    assert a.search(QUESTION, mode="hybrid")[0].source == source

    # Removed through B: gone from A's answers, although A's index had it.
    assert b(op="remove", sources=[source])["removed"] == [source]
    assert source not in [p.source for p in a.search(QUESTION, mode="lexical", k=10)]
    assert source not in [p.source for p in a.search(QUESTION, mode="hybrid", k=10)]
    assert a.store.lexical.ids() == want

    # And the other way round: A writes, B sees it, then A removes it and B no longer returns it.
    a.ingest([article])
    assert b(op="search", q=QUESTION, mode="lexical")["sources"][0] == source
    assert b(op="search", q=QUESTION, mode="hybrid")["sources"][0] == source
    a.remove([source])
    assert source not in b(op="search", q=QUESTION, mode="lexical", k=10)["sources"]
    assert source not in b(op="search", q=QUESTION, mode="hybrid", k=10)["sources"]


def test_a_new_replica_starts_from_chroma_not_from_its_cache(make_assistant, chroma_server, tmp_path):
    """A cache file from another collection (same name, recreated) must not leak old chunks."""
    common = dict(chroma_url=chroma_server, collection="replicas-cache", lexical_refresh_seconds=0)
    a = make_assistant(seed=True, store_dir=tmp_path / "a", **common)
    assert len(a.store.lexical) == a.store.count() > 0
    a.store.client.delete_collection("replicas-cache")
    a.store.client.delete_collection("replicas-cache-changes")
    again = make_assistant(seed=False, store_dir=tmp_path / "a", **common)   # same cache dir
    assert again.store.count() == 0
    assert len(again.store.lexical) == 0
    assert again.search("Wer ist der Sprecher des Kremls?", mode="lexical") == []


def test_a_chunk_written_without_a_log_entry_is_found_at_the_next_start(make_assistant, embedder):
    """A writer that stopped between writing chunks and logging them: the next start notices
    that Chroma and the cached index disagree and compares ids."""
    bot = make_assistant(seed=True)
    vector = embedder.passages(["Quokkazüchterverband Kärnten"])[0]
    bot.store.collection.add(ids=["orphan"], embeddings=[vector.tolist()], documents=[ARTICLE],
                             metadatas=[{"source": "orphan.txt", "title": "Quokka", "n_chunks": 1}])
    again = make_assistant(seed=False)       # same store directory: the cache file is used
    assert "orphan" in again.store.lexical.ids()
    assert again.search(QUESTION, mode="lexical")[0].chunk_id == "orphan"
