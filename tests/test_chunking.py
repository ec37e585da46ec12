from rag.chunking import chunk, split_sentences


def test_sentences_respect_abbreviations_and_quotes():
    text = 'Dr. Müller kam z. B. am 3. Oktober. „Das ist gut.“ Er ging. Und dann?'
    got = [s.text for s in split_sentences(text)]
    assert got == ["Dr. Müller kam z. B. am 3. Oktober.", "„Das ist gut.“", "Er ging.", "Und dann?"]


def test_sentence_offsets_are_exact():
    text = "Erster Satz.  Zweiter Satz!\nDritte Zeile ohne Punkt"
    for s in split_sentences(text):
        assert text[s.start:s.end] == s.text


def test_chunks_fit_overlap_and_cover_everything():
    sentences = [f"Satz Nummer {i} erzählt etwas über die Lage in der Region." for i in range(60)]
    text = " ".join(sentences)
    chunks = chunk(text, max_chars=300, overlap_chars=120)
    assert all(len(c.text) <= 300 for c in chunks)
    assert all(text[c.start:c.end] == c.text for c in chunks)
    # consecutive chunks overlap, and together they cover the text
    assert all(b.start < a.end for a, b in zip(chunks, chunks[1:]))
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    for s in sentences:
        assert any(s in c.text for c in chunks)


def test_overlong_sentence_is_cut_at_words():
    text = "wort " * 500
    chunks = chunk(text.strip(), max_chars=200, overlap_chars=50)
    assert all(len(c.text) <= 200 for c in chunks)
    assert all(not c.text.startswith(" ") and c.text.startswith("wort") for c in chunks)


def test_empty_text():
    assert chunk("", 100, 10) == []


def test_hard_wrapped_lines_stay_one_sentence_but_paragraphs_split():
    text = "Der Turm wurde 1890 von dem Architekten\nKarl Möllenbeck entworfen. Er ist hoch.\n\nNeue Überschrift\n\nText."
    got = [s.text for s in split_sentences(text)]
    assert got[0] == "Der Turm wurde 1890 von dem Architekten\nKarl Möllenbeck entworfen."
    assert "Neue Überschrift" in got and got[-1] == "Text."
