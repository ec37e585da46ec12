"""Incremental sync on a real Chroma store with the real model."""
import shutil
from pathlib import Path

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
