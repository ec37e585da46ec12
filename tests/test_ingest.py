"""Incremental sync on a real Chroma store with the real model."""
import shutil
import threading
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def chroma_ids(bot) -> list[str]:
    return bot.store.collection.get(include=[])["ids"]


def test_sync_add_unchanged_update_remove(make_assistant, tmp_path):
    folder = tmp_path / "articles"
    shutil.copytree(SEEDS, folder)
    bot = make_assistant(seed=False)

    first = bot.ingest([folder])
    assert len(first.added) == 5 and not first.failed
    n_chunks = bot.store.count()
    assert n_chunks == first.chunks_added > 5

    second = bot.ingest([folder])
    assert (len(second.added), len(second.updated), len(second.unchanged), len(second.removed)) == (0, 0, 5, 0)
    assert second.chunks_added == 0 and bot.store.count() == n_chunks

    edited = next(folder.glob("000_*.txt"))
    edited.write_text(edited.read_text(encoding="utf-8").replace(
        "Nordkorea sorgt durch seine Raketentests", "Nordkorea sorgt mit seinen Raketentests"), encoding="utf-8")
    third = bot.ingest([folder])
    assert third.updated == [str(edited.resolve())] and len(third.unchanged) == 4
    # Only the chunks whose text changed were embedded again.
    assert 0 < third.chunks_added < n_chunks
    ids = chroma_ids(bot)
    assert len(ids) == len(set(ids)) == bot.store.count()
    assert any("mit seinen Raketentests" in p.text for p in bot.search("Raketentests Japan Südkorea", k=5))
    assert not any("durch seine Raketentests" in p.text for p in bot.search("Raketentests Japan Südkorea", k=5))

    gone = next(folder.glob("004_*.txt"))
    gone.unlink()
    fourth = bot.ingest([folder])
    assert fourth.removed == [str(gone.resolve())]
    assert str(gone.resolve()) not in {a["source"] for a in bot.articles()}
    assert all(p.source != str(gone.resolve()) for p in bot.search("Grant Shapps Demütigung", k=10))
    ids = chroma_ids(bot)
    assert len(ids) == len(set(ids))
    # The lexical index follows the store exactly.
    assert bot.store.lexical.ids() == set(ids)


def test_reopen_keeps_store_and_lexical_index(make_assistant, tmp_path):
    bot = make_assistant(seed=True)
    count = bot.store.count()
    again = make_assistant(seed=False)     # same store_dir, new Chroma client
    assert again.store.count() == count
    assert again.store.lexical.ids() == set(chroma_ids(again))
    assert again.ingest([again.settings.seeds_dir]).chunks_added == 0


def test_lexical_index_is_resynced_when_lost(make_assistant):
    bot = make_assistant(seed=True)
    path = bot.store.lexical.path
    path.unlink()
    again = make_assistant(seed=False)
    assert again.store.lexical.ids() == set(chroma_ids(again))


def test_remove_article(make_assistant):
    bot = make_assistant(seed=True)
    victim = bot.articles()[0]["source"]
    report = bot.remove([victim])
    assert report.removed == [victim]
    assert victim not in {a["source"] for a in bot.articles()}
    assert bot.remove(["/nope.txt"]).failed


def test_metadata_and_citation_offsets(seeded):
    rows = {Path(a["source"]).name[:3]: a for a in seeded.articles()}
    assert rows["000"]["outlet"] == "Euronews"
    assert rows["004"]["outlet"] == "POLITICO"
    assert rows["000"]["title"].startswith("Strategische Partnerschaft")
    answer = seeded.ask("Wer ist der Sprecher des Kremls?")
    for c in answer.citations:
        source_text = Path(c.source).read_text(encoding="utf-8")
        assert source_text[c.start:c.end] == c.quote


# --- embedding and writing overlap (rag/ingest.py _OrderedWriter) ------------------------------
def _record_writes(bot, monkeypatch, fail_on: tuple[str, int] | None = None) -> list[tuple[str, str]]:
    """Every store write as (operation, file name), in the order they reach the store; with
    fail_on=(operation, n) the n-th write of that operation raises a full-disk error instead."""
    ops: list[tuple[str, str]] = []
    sources = {cid: s.source for s in bot.store.sources().values() for cid in s.ids}

    def recording(op, real):
        def write(ids, *rest):
            if not ids:   # nothing to write, nothing reaches Chroma
                return real(ids, *rest)
            names = {Path(m["source"]).name for m in rest[-1]} if op != "delete" \
                else {Path(sources[cid]).name for cid in ids}
            ops.append((op, ",".join(sorted(names))))
            if fail_on and fail_on[0] == op and sum(o == op for o, _ in ops) == fail_on[1]:
                raise OSError(28, "No space left on device")
            return real(ids, *rest)
        return write

    for op in ("upsert", "update_metadata", "delete"):
        monkeypatch.setattr(bot.store, op, recording(op, getattr(bot.store, op)))
    return ops


_TOWNS = ("Husum", "Passau", "Görlitz", "Lindau", "Wismar")


def _articles(folder: Path) -> Path:
    """Five local-news articles of three chunks each, as .txt files in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, town in enumerate(_TOWNS):
        paragraphs = [f"Stadtrat {town} beschließt neuen Haushalt"] + [
            f"Der Stadtrat von {town} hat in seiner Sitzung über Punkt {k} der Tagesordnung beraten. "
            f"Die Fraktionen stritten lange über die Kosten für Schulen, Straßen und das Hallenbad; "
            f"am Ende stimmten {20 + i + k} Mitglieder für den Vorschlag der Verwaltung, der nun "
            f"{k + 2} Millionen Euro für das kommende Jahr vorsieht." for k in range(6)]
        (folder / f"{i:03d}_{town.lower()}.txt").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return folder


def _edit(folder: Path, numbers: tuple[int, ...]) -> list[str]:
    """Change the last paragraph of the given articles: their first chunks stay as they are
    (vectors reused, metadata rewritten), the last one changes (a new chunk, a stale one)."""
    names = []
    for i in numbers:
        path = next(folder.glob(f"{i:03d}_*.txt"))
        text = path.read_text(encoding="utf-8").replace(
            "Punkt 5 der Tagesordnung", f"Punkt 5 der Tagesordnung und eine Stellungnahme ({i})")
        path.write_text(text, encoding="utf-8")
        names.append(path.name)
    return names


def _assert_consistent(bot) -> None:
    inner = bot.store.inner
    assert inner.lexical.ids() == inner.all_ids()
    assert all(s.consistent for s in bot.store.sources().values())


def test_writes_keep_the_serial_order_while_the_next_window_is_embedded(make_assistant, tmp_path, monkeypatch):
    """One window per file: each file's new chunks, then its reused chunks' metadata, then its
    stale chunks go to the store in file order, the same sequence a serial sync writes, so a
    crash at any point leaves what it would have left."""
    from rag import ingest

    folder = _articles(tmp_path / "articles")
    bot = make_assistant(seed=False)
    bot.ingest([folder])
    monkeypatch.setattr(ingest, "_EMBED_WINDOW", 1)
    a, b = _edit(folder, (1, 3))
    ops = _record_writes(bot, monkeypatch)
    report = bot.ingest([folder])
    assert ops == [("upsert", a), ("update_metadata", a), ("delete", a),
                   ("upsert", b), ("update_metadata", b), ("delete", b)]
    assert [Path(p).name for p in report.updated] == [a, b] and report.chunks_removed == 2
    _assert_consistent(bot)


def test_the_next_window_is_embedded_while_the_previous_one_is_written(make_assistant, tmp_path, monkeypatch):
    """Chroma and BM25 writes do not hold up the model: while the first file's chunks are being
    written, the second file's are embedded."""
    from rag import ingest

    bot = make_assistant(seed=False)
    monkeypatch.setattr(ingest, "_EMBED_WINDOW", 1)
    writing, written, embedded_meanwhile = threading.Event(), threading.Event(), threading.Event()
    real_upsert, real_passages = bot.store.upsert, bot.embedder.passages

    def slow_upsert(*args):
        if writing.is_set():
            return real_upsert(*args)
        writing.set()
        # Released as soon as the next embedding starts; a serial sync never gets there.
        embedded_meanwhile.wait(20)
        try:
            return real_upsert(*args)
        finally:
            written.set()

    def passages(texts, **kw):
        if writing.is_set() and not written.is_set():
            embedded_meanwhile.set()
        return real_passages(texts, **kw)

    monkeypatch.setattr(bot.store, "upsert", slow_upsert)
    monkeypatch.setattr(bot.embedder, "passages", passages)
    report = bot.ingest([SEEDS])
    assert embedded_meanwhile.is_set(), "the second window waited for the first one's write"
    assert len(report.added) == 5 and bot.store.count() == report.chunks_added
    _assert_consistent(bot)


def test_a_failed_write_stops_the_sync_with_its_error_and_the_next_sync_repairs(make_assistant, tmp_path,
                                                                                monkeypatch):
    """The writer thread's error is the sync's error; nothing is written after it, though the
    following windows were already embedded; the half-updated file is seen as inconsistent and
    the next sync brings everything in line."""
    from rag import ingest

    folder = _articles(tmp_path / "articles")
    bot = make_assistant(seed=False)
    bot.ingest([folder])
    monkeypatch.setattr(ingest, "_EMBED_WINDOW", 1)
    a, b, c = _edit(folder, (0, 2, 4))
    with monkeypatch.context() as m:
        ops = _record_writes(bot, m, fail_on=("delete", 1))   # a's new chunks are in, its stale one too
        with pytest.raises(OSError, match="No space left"):
            bot.ingest([folder])
        assert ops == [("upsert", a), ("update_metadata", a), ("delete", a)]
    inner = bot.store.inner
    assert inner.lexical.ids() == inner.all_ids()
    stored = {Path(s).name: v for s, v in bot.store.sources().items()}
    assert not stored[a].consistent and stored[b].consistent and stored[c].consistent

    report = bot.ingest([folder])
    assert sorted(Path(p).name for p in report.updated) == [a, b, c]
    _assert_consistent(bot)
    assert any("Stellungnahme (0)" in p.text for p in bot.search("Stellungnahme", k=10, mode="lexical"))


def test_files_are_prepared_ahead_by_chunks_not_by_files():
    """The prepare thread runs ahead of the model until a window's worth of chunks waits, however
    many files that takes, and no further."""
    from rag.ingest import _ahead

    produced = [threading.Event() for _ in range(6)]

    def files():
        for i in range(6):
            produced[i].set()
            yield 3   # a file of three chunks

    ahead = _ahead(files(), 7, weight=lambda chunks: chunks)
    assert next(ahead) == 3
    # The consumer is busy: files 1-3 wait (9 chunks >= 7), file 4 is prepared and held back.
    assert produced[4].wait(30)
    assert not produced[5].wait(1)
    assert list(ahead) == [3] * 5
