"""Real files as users have them: one-line articles, long titles, boilerplate inside sentences."""
import re
from pathlib import Path

import numpy as np
import pytest

from rag import cleaning, ingest, loading
from rag.evaluation import data
from rag.settings import Settings

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def one_line_story() -> str:
    """The five seed articles' text as a single line, as a scraper without line breaks writes it."""
    parts = [cleaning.clean(p.read_text(encoding="utf-8")).text for p in sorted(SEEDS.glob("*.txt"))]
    return " ".join(" ".join(parts).split()) + "\n"


def doc(text: str, name: str = "/articles/x.txt") -> loading.SourceDoc:
    return loading.SourceDoc(name, text, loading.file_hash(text.encode("utf-8")))


def vectors(bot, source: str) -> np.ndarray:
    got = bot.store.collection.get(where={"source": source}, include=["embeddings", "metadatas"])
    order = np.argsort([m["chunk"] for m in got["metadatas"]])
    return np.asarray(got["embeddings"], dtype=np.float32)[order]


# --- item 1: a file without line breaks -------------------------------------------------------
def test_title_of_a_one_line_file_is_a_short_headline():
    story = one_line_story()
    text = " ".join([story.strip()] * 45)   # ~0.5 MB on one line
    assert len(text) > 450_000 and "\n" not in text
    chunks = ingest.prepare(doc(text + "\n"), Settings())
    title = chunks[0].meta["title"]
    assert 20 <= len(title) <= 200
    # Cut at a word boundary, not in the middle of a word.
    assert text.startswith(title) and text[len(title)] == " "
    settings = Settings()
    assert all(len(c.embed_text) <= settings.chunk_chars + 201 for c in chunks)
    # What goes through the tokenizer stays proportional to the file (it was 290 MB for 0.5 MB).
    assert sum(len(c.embed_text) for c in chunks) < 1.5 * len(text)


def test_long_titles_are_cut_at_a_word_boundary():
    words = "Bundesregierung beschließt umfangreiches Paket " * 10
    assert len(ingest.headline(words)) <= 200 and words.startswith(ingest.headline(words))
    assert ingest.headline(words)[-1] != " " and words[len(ingest.headline(words))] == " "
    assert ingest.headline("  Kurzer Titel  ") == "Kurzer Titel"
    html_title = {"title": "Sehr lang " * 60}
    chunks = ingest.prepare(loading.SourceDoc("/a.html", "Ein Text über Fähren. " * 20, "h", html_title),
                            Settings())
    assert len(chunks[0].meta["title"]) <= 200


def test_chunks_of_a_one_line_article_get_distinct_vectors(make_assistant, tmp_path):
    f = tmp_path / "one-line.txt"
    f.write_text(one_line_story(), encoding="utf-8")
    bot = make_assistant(seed=False)
    report = bot.ingest([f])
    assert report.added == [str(f.resolve())]
    vecs = vectors(bot, str(f.resolve()))
    assert len(vecs) >= 10
    sims = vecs @ vecs.T
    np.fill_diagonal(sims, 0)
    assert sims.max() < 0.995, "two chunks of one article have (nearly) the same vector"
    # Dense search finds a passage from the end of the article.
    hits = bot.search("Grant Shapps Demütigung", k=3, mode="dense")
    assert any("Shapps" in p.text for p in hits)


def test_store_built_with_oversized_titles_is_repaired_on_next_sync(make_assistant, tmp_path):
    f = tmp_path / "one-line.txt"
    line = one_line_story()
    f.write_text(line, encoding="utf-8")
    bot = make_assistant(seed=False)
    bot.ingest([f])
    src = str(f.resolve())
    # What a store written before the fix holds: the whole line as title, one vector for all chunks.
    got = bot.store.collection.get(where={"source": src}, include=["embeddings", "metadatas"])
    metas = [dict(m, title=line[:300], prep=0) for m in got["metadatas"]]
    same = [got["embeddings"][0]] * len(got["ids"])
    bot.store.collection.update(ids=got["ids"], metadatas=metas, embeddings=same)

    report = bot.ingest([f])
    assert report.updated == [src] and report.chunks_added == len(got["ids"])
    assert len(bot.articles()[0]["title"]) <= 200
    vecs = vectors(bot, src)
    sims = vecs @ vecs.T
    np.fill_diagonal(sims, 0)
    assert sims.max() < 0.995
    # Repaired once: the next sync leaves the file alone.
    assert bot.ingest([f]).unchanged == [src]


# --- item 2: boilerplate rules anchored to whole lines ----------------------------------------
def test_copyright_inside_a_sentence_keeps_the_sentence():
    sentence = ("Der Digitalkommissar hat sich erneut zum Thema Copyright geäußert, "
                "seine Aussagen dürften für Ärger sorgen.")
    raw = (f"Oettinger und das Urheberrecht\n\nFoto in Brüssel Copyright AFP PHOTO/KCNA\n"
           f"Copyright AFP\n\n{sentence}\n\nDas Copyright liegt beim Verlag.\n")
    text = cleaning.clean(raw).text
    assert sentence in text and "Das Copyright liegt beim Verlag." in text
    assert "AFP" not in text


def test_no_rule_drops_a_paragraph_for_a_word_it_contains():
    paragraph = ("Von AHS-Übertrittsquoten bis zu Vorschulstufe. Lesen Sie auch, was die Ministerin "
                 "sagte: Bild: ein Kompromiss. Mehr zum Thema Schule folgt. Diesen Artikel teilen "
                 "viele Eltern, Einbetten des Videos ist erlaubt, WERBUNG gibt es nicht.")
    raw = f"Schulreform in Wien\n\n{paragraph}\n\nVon Euronews mit AP, AFP\n\nEin zweiter Absatz.\n"
    text = cleaning.clean(raw).text
    assert paragraph in text and "Ein zweiter Absatz." in text
    assert "Euronews" not in text
    assert "Von AHS-Übertrittsquoten bis zu Vorschulstufe." in cleaning.clean(
        "Titel der Geschichte\n\nVon AHS-Übertrittsquoten bis zu Vorschulstufe.\n\nText folgt hier.").text


@pytest.fixture(scope="module")
def gnad():
    assert data.DEFAULT_GNAD.is_file(), f"needs 10kGNAD at {data.DEFAULT_GNAD}"
    return data.load_gnad(data.DEFAULT_GNAD)


def test_every_10kgnad_article_keeps_its_text_through_cleaning(gnad):
    assert len(gnad) == 1028
    settings = Settings()
    # As published (one line each) and as the evaluation writes them (teaser on its own line).
    for docs in ({a.id: a.text + "\n" for a in gnad}, data.gnad_docs(gnad)):
        refused, heavy = [], []
        for name, text in docs.items():
            try:
                ingest.prepare(doc(text, f"/gnad/{name}.txt"), settings)
            except loading.UnreadableFile as e:
                refused.append(f"{name}: {e}")
                continue
            kept = len(re.sub(r"\s+", "", cleaning.clean(text).text))
            if kept < 0.8 * len(re.sub(r"\s+", "", text)):
                heavy.append(name)
        assert refused == [] and heavy == []


def test_report_lists_what_cleaning_removed(make_assistant, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("Neue Fähre nach Sylt\n\nWERBUNG\n\nDie neue Fähre nach Sylt fährt ab Mai zweimal "
                    "täglich, sagte der Betreiber am Montag.\n", encoding="utf-8")
    junk = tmp_path / "junk.txt"
    junk.write_text("Neue Fähre nach Sylt\n\n" + "".join(f"Copyright Fotoagentur Nummer {i}\n" for i in range(20))
                    + "\nDie Fähre fährt ab Mai.\n", encoding="utf-8")
    bot = make_assistant(seed=False)
    report = bot.ingest([good, junk])
    losses = {Path(c.path).name: c for c in report.cleaned}
    assert losses["good.txt"].removed_chars == len("WERBUNG")
    assert losses["junk.txt"].share > 0.5
    assert [Path(c.path).name for c in report.heavily_cleaned()] == ["junk.txt"]
    assert "junk.txt" in report.summary() and "good.txt" not in report.summary()
    assert report.to_dict()["cleaned"][0]["removed_chars"] >= 0


# --- items 3, 4: what a folder holds besides articles ------------------------------------------
STORY = ("Neue Fähre nach Sylt\n\nDie neue Fähre nach Sylt fährt ab Mai zweimal täglich, sagte der "
         "Betreiber am Montag in Hamburg. Er rechnet mit vielen Gästen.\n")


def test_links_out_of_the_folder_are_not_followed(make_assistant, tmp_path):
    outside = tmp_path / "private"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("Geheime Notiz\n\nDas Passwort für den Server im Keller lautet Sonnenblume.\n",
                      encoding="utf-8")
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "story.txt").write_text(STORY, encoding="utf-8")
    (folder / "link.txt").symlink_to(secret)
    (folder / "more").symlink_to(outside, target_is_directory=True)
    (folder / "again.txt").symlink_to(folder / "story.txt")   # inside: the same file, once
    bot = make_assistant(seed=False)
    report = bot.ingest([folder])
    stored = {a["source"] for a in bot.articles()}
    assert stored == {str((folder / "story.txt").resolve())}
    skipped = {Path(p.path).name: p.reason for p in report.skipped}
    assert "outside the folder" in skipped["link.txt"] and "outside the folder" in skipped["more"]
    assert not report.failed


def test_files_left_out_of_a_folder_are_listed_with_the_reason(make_assistant, tmp_path):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "story.txt").write_text(STORY, encoding="utf-8")
    (folder / "report.pdf").write_bytes(b"%PDF-1.4\n" + b"\x00" * 100)
    (folder / "letter.docx").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    (folder / "huge.txt").write_text(STORY * 400, encoding="utf-8")
    (folder / ".DS_Store").write_bytes(b"\x00\x01")
    bot = make_assistant(seed=False, max_file_bytes=50_000)
    report = bot.ingest([folder])
    assert [Path(p).name for p in report.added] == ["story.txt"]
    skipped = {Path(p.path).name: p.reason for p in report.skipped}
    assert set(skipped) == {"report.pdf", "letter.docx", "photo.png"}
    assert "unsupported file type '.pdf'" in skipped["report.pdf"]
    failed = {Path(p.path).name: p.reason for p in report.failed}
    assert set(failed) == {"huge.txt"} and "the limit is 50,000" in failed["huge.txt"]
    summary = report.summary()
    assert all(name in summary for name in ("report.pdf", "letter.docx", "photo.png", "huge.txt"))


# --- item 5: the same article under two names -------------------------------------------------
def test_same_content_under_a_second_name_is_stored_once(make_assistant, tmp_path):
    folder = tmp_path / "articles"
    folder.mkdir()
    first, second = folder / "a-faehre.txt", folder / "b-kopie.txt"
    first.write_text(STORY, encoding="utf-8")
    second.write_text(STORY, encoding="utf-8")
    bot = make_assistant(seed=False)
    report = bot.ingest([folder])
    assert report.added == [str(first.resolve())]
    assert [Path(p.path).name for p in report.duplicates] == ["b-kopie.txt"]
    assert str(first.resolve()) in report.duplicates[0].reason
    assert [a["source"] for a in bot.articles()] == [str(first.resolve())]
    # A later upload of the same text under a third name, and a re-sync: still one copy.
    third = tmp_path / "c.txt"
    third.write_text(STORY, encoding="utf-8")
    again = bot.ingest([folder, third])
    assert not again.added and {Path(p.path).name for p in again.duplicates} == {"b-kopie.txt", "c.txt"}
    # When the first goes away, the copy is stored in its place.
    first.unlink()
    last = bot.ingest([folder])
    assert last.added == [str(second.resolve())] and last.removed == [str(first.resolve())]
    assert [a["source"] for a in bot.articles()] == [str(second.resolve())]


# --- item 6: one bad byte in a UTF-8 file -----------------------------------------------------
def test_mostly_valid_utf8_stays_utf8_and_the_report_counts_bad_bytes(make_assistant, tmp_path):
    f = tmp_path / "fast-utf8.txt"
    f.write_bytes(STORY.encode("utf-8").replace(b"Montag", b"Mon\xfftag") + b"Ende\xe4.\n")
    legacy = tmp_path / "cp1252.txt"
    legacy.write_bytes(STORY.replace("Sylt", "Föhr").encode("cp1252"))
    bot = make_assistant(seed=False)
    report = bot.ingest([f, legacy])
    assert len(report.added) == 2, report.failed
    text = " ".join(p.text for p in bot.search("Fähre Sylt Betreiber", k=5))
    assert "fährt ab Mai" in text and "Ã" not in text and "Mon\ufffdtag" in text
    assert "Föhr" in " ".join(p.text for p in bot.search("Fähre nach Föhr", k=5))
    assert [(Path(w.path).name, w.reason[:1]) for w in report.warnings] == [("fast-utf8.txt", "2")]
    assert "not valid UTF-8" in report.summary()


# --- item 9: a new headline reaches every chunk -----------------------------------------------
def test_new_title_reaches_the_embedding_and_bm25_text_of_unchanged_chunks(make_assistant, tmp_path, embedder):
    f = tmp_path / "story.txt"
    body = next(SEEDS.glob("000_*.txt")).read_text(encoding="utf-8").split("\n", 1)[1]
    f.write_text("Lawrow besucht Pjöngjang\n" + body, encoding="utf-8")
    bot = make_assistant(seed=False)
    bot.ingest([f])
    src = str(f.resolve())
    before = bot.store.collection.get(where={"source": src}, include=[])["ids"]
    f.write_text("Zitronenfalter überwintern im Gebüsch\n" + body, encoding="utf-8")
    report = bot.ingest([f])
    assert report.updated == [src]
    got = bot.store.collection.get(where={"source": src}, include=["embeddings", "documents", "metadatas"])
    kept = [i for i, cid in enumerate(got["ids"]) if cid in before]
    assert kept, "no chunk kept its text, so the test shows nothing"
    for i in kept:
        assert got["metadatas"][i]["title"] == "Zitronenfalter überwintern im Gebüsch"
        expected = embedder.passages(["Zitronenfalter überwintern im Gebüsch\n" + got["documents"][i]])[0]
        assert float(np.dot(expected, got["embeddings"][i])) > 0.999
    hits = dict(bot.store.lexical.search("Zitronenfalter", k=50))
    assert all(got["ids"][i] in hits for i in kept)
    # The old headline's word no longer finds chunks whose own text lacks it.
    old_hits = dict(bot.store.lexical.search("besucht", k=50))
    assert all(got["ids"][i] not in old_hits for i in kept if "besucht" not in got["documents"][i])


# --- item 10: citation offsets in CRLF and BOM files ------------------------------------------
def test_citation_offsets_are_file_offsets_for_crlf_and_bom_files(make_assistant, tmp_path):
    folder = tmp_path / "articles"
    folder.mkdir()
    for p in SEEDS.glob("*.txt"):
        text = p.read_text(encoding="utf-8").replace("\n", "\r\n")
        (folder / p.name).write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    md = folder / "zoo.md"
    md.write_bytes("---\r\ntitle: Elefanten für Leipzig\r\ndate: 2024-06-01\r\n---\r\n# Elefanten\r\n\r\n"
                   "Der Zoo in Leipzig bekommt zwei neue Elefanten aus Thailand.\r\n\r\n"
                   "Die Tiere kommen im Herbst an.\r\n".encode("utf-8"))
    bot = make_assistant(seed=False)
    assert not bot.ingest([folder]).failed
    rows = {Path(a["source"]).name: a for a in bot.articles()}
    assert rows["zoo.md"]["title"] == "Elefanten für Leipzig" and rows["zoo.md"]["date"] == "2024-06-01"
    cited = 0
    for question in ("Wer ist der Sprecher des Kremls?", "Wie viele Elefanten bekommt der Zoo in Leipzig?",
                     "Wann kommen die Elefanten in Leipzig an?"):
        for c in bot.ask(question).citations:
            with open(c.source, encoding="utf-8-sig", newline="") as fh:
                assert fh.read()[c.start:c.end] == c.quote
            cited += 1
    assert cited >= 3


# --- item 11: an end date alone leaves out undated articles -----------------------------------
def test_date_filters_leave_out_undated_articles(make_assistant, tmp_path):
    dated = tmp_path / "dated.txt"
    dated.write_text("Fähre nach Sylt fährt öfter\nVeröffentlicht am 2. Mai 2024\n\nDie Fähre nach Sylt fährt "
                     "ab Mai zweimal täglich, sagte der Betreiber.\n", encoding="utf-8")
    undated = tmp_path / "undated.txt"
    undated.write_text("Fähre nach Föhr fährt öfter\n\nDie Fähre nach Föhr fährt ab Mai dreimal täglich, "
                       "sagte die Reederei.\n", encoding="utf-8")
    bot = make_assistant(seed=False)
    bot.ingest([dated, undated])
    assert {a["date"] for a in bot.articles()} == {"2024-05-02", ""}
    for where in ({"date_to": "2030-01-01"}, {"date_from": "2000-01-01"},
                  {"date_from": "2000-01-01", "date_to": "2030-01-01"}):
        for mode in ("hybrid", "dense", "lexical"):
            hits = bot.search("Fähre fährt täglich", k=5, mode=mode, **where)
            assert {Path(p.source).name for p in hits} == {"dated.txt"}, (where, mode)
    assert not bot.search("Fähre fährt täglich", k=5, date_to="2024-05-01")
    assert len({p.source for p in bot.search("Fähre fährt täglich", k=5)}) == 2


# --- item 13: an upload killed between copying and ingesting ----------------------------------
def test_files_left_in_uploads_are_ingested_when_the_store_opens(tmp_path):
    from rag import Assistant, Settings as S

    settings = S.from_env(store_dir=tmp_path / "store")
    uploads = settings.store_dir / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "left-over.txt").write_text(STORY, encoding="utf-8")   # copied, then the app was killed
    bot = Assistant.open(settings, seed=False)
    assert [Path(a["source"]).name for a in bot.articles()] == ["left-over.txt"]
    assert any("Sylt" in p.text for p in bot.search("Fähre nach Sylt", k=3))

    # Deleting an uploaded article deletes the store's copy, so reopening does not bring it back;
    # a duplicate or unreadable upload leaves no copy behind either.
    (tmp_path / "copy.txt").write_text(STORY, encoding="utf-8")
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    report = bot.import_files([tmp_path / "copy.txt", tmp_path / "empty.txt"])
    assert [Path(p.path).name for p in report.duplicates] == ["copy.txt"] and len(report.failed) == 1
    bot.remove([str((uploads / "left-over.txt").resolve())])
    assert sorted(p.name for p in uploads.iterdir()) == []
    assert Assistant.open(settings, seed=False).articles() == []


# --- item 14: the publication date, not a date the story mentions ------------------------------
def test_a_date_in_the_story_is_not_its_publication_date():
    assert cleaning.detect_date("Neue Fähre nach Sylt\n\nAm 14. April 2021 nahm die neue Fähre den "
                                "Betrieb auf, sagte der Betreiber.\n") == ""
    assert cleaning.detect_date("Fähre ab 14. April 2021 täglich\n\nText.") == ""
    assert cleaning.detect_date("Neue Fähre\n\nDie Fähre startet am 14.04.2027 in Hamburg.") == ""
    # Datelines at the top are publication dates.
    assert cleaning.detect_date("Neue Fähre\nStand: 03.03.2024 10:15 Uhr\n\nText.") == "2024-03-03"
    assert cleaning.detect_date("Neue Fähre\n\nBERLIN, 3. März 2024 (dpa) – Die Fähre fährt.") == "2024-03-03"
    assert cleaning.detect_date("Ferry\nPublished on March 3, 2024\n\nText.") == "2024-03-03"
    assert cleaning.detect_date("Neue Fähre\nWien, am 5. Juni 2023\n\nText.") == "2023-06-05"


def test_article_dates_come_from_page_metadata_or_a_dateline(make_assistant, tmp_path):
    body = "<h1>Neue Fähre</h1><p>Die Fähre nach Sylt nahm am <time datetime='2021-04-14'>14. April 2021</time> " \
           "den Betrieb auf, sagte der Betreiber am Montag in Hamburg.</p>"
    (tmp_path / "meta.html").write_text(
        "<html><head><script type='application/ld+json'>{\"@type\": \"NewsArticle\", "
        "\"datePublished\": \"2023-11-12T08:00:00+01:00\"}</script></head><body><article>"
        + body + "</article></body></html>", encoding="utf-8")
    (tmp_path / "byline.html").write_text(
        "<html><body><article><header><time datetime='2024-05-02T10:00' pubdate>2. Mai 2024</time>"
        "</header>" + body + "</article></body></html>", encoding="utf-8")
    (tmp_path / "undated.html").write_text("<html><body><article>" + body + "</article></body></html>",
                                           encoding="utf-8")
    (tmp_path / "story.txt").write_text("Neue Fähre nach Sylt\n\nAm 14. April 2021 nahm die neue Fähre "
                                        "den Betrieb auf, sagte der Betreiber am Montag.\n", encoding="utf-8")
    (tmp_path / "dateline.txt").write_text("Neue Fähre nach Sylt\nVeröffentlicht am 2. Mai 2024\n\nAm 14. April "
                                           "2021 nahm die neue Fähre den Betrieb auf.\n", encoding="utf-8")
    bot = make_assistant(seed=False)
    assert not bot.ingest([tmp_path]).failed
    dates = {Path(a["source"]).name: a["date"] for a in bot.articles()}
    assert dates == {"meta.html": "2023-11-12", "byline.html": "2024-05-02", "undated.html": "",
                     "story.txt": "", "dateline.txt": "2024-05-02"}


def test_bench_report_names_articles_that_lose_over_a_fifth_to_cleaning():
    from rag.evaluation import report

    losses = data.cleaning_losses({
        "small": "Titel der Meldung\n\nWERBUNG\n\nEin ganz normaler Absatz über Politik in Wien.\n",
        "heavy": "Titel\n\n" + "".join(f"Copyright Agentur {i}\n" for i in range(10)) + "\nKurzer Text.\n"})
    assert {x["doc"] for x in losses} == {"small", "heavy"}
    line = " ".join(report.cleaning_check(losses))
    assert "2 10kGNAD article(s)" in line and "1 lose more than 20%" in line
    assert "heavy" in line and "small" not in line
    assert "no text" in " ".join(report.cleaning_check([]))
