from rag.fusion import lexical_weight, rrf
from rag.lexical import BM25Index, tokenize


def test_rrf_with_zero_weight_equals_the_other_ranking():
    dense = ["a", "b", "c", "d"]
    lexical = ["d", "c", "x"]
    assert [i for i, _ in rrf([(dense, 1.0), (lexical, 0.0)])] == dense


def test_rrf_rewards_agreement():
    fused = [i for i, _ in rrf([(["a", "b", "c"], 1.0), (["z", "b", "y"], 1.0)], k=60)]
    assert fused[0] == "b"
    fused = [i for i, _ in rrf([(["a", "b"], 1.0), (["b", "z"], 1.0)])]
    assert fused[0] == "b" and set(fused) == {"a", "b", "z"}


def test_lexical_weight_depends_on_language():
    assert lexical_weight("de", "de", 1.0, 0.0) == 1.0
    assert lexical_weight("en", "de", 1.0, 0.0) == 0.0


def test_an_english_question_becomes_a_german_bm25_query_of_words_the_articles_hold():
    from rag.glossary import Glossary
    from rag.retrieval import translated_query

    g = Glossary({}, german_words={"region": ["Region", "Gebiet", "Bereich"], "soldier": ["Soldat", "Krieger"],
                                   "expel": ["ausweisen", "vertreiben"], "help": ["Hilfe"],
                                   "north korea": ["Nordkorea"], "north": ["Norden"], "korea": ["Korea"]})
    held = {"Region", "Bereich", "Soldat", "Krieger", "vertreiben", "Nordkorea", "Norden", "Korea"}
    q = "From which region did 2000 soldiers of Kim's army help expel Ukrainian forces?"
    # Two German words a word, those the articles hold; numbers and names as written (without a
    # possessive); an English word without German words in the articles ("army", "help",
    # "forces") is left out.
    assert translated_query(q, g, held.__contains__) == "Region Bereich 2000 Soldat Krieger Kim vertreiben Ukrainian"
    assert translated_query(q, g, held.__contains__, per_word=1).startswith("Region 2000 Soldat Kim")
    # A name as the articles spell it, where they spell it otherwise.
    spelling = {"Lavrov": "lawrow"}.get
    assert translated_query("Whom did Lavrov's soldiers meet?", g, held.__contains__,
                            lambda name: spelling(name, name)) == "lawrow Soldat Krieger"
    # A phrase the dictionary has is one German word, which BM25 would miss word by word.
    assert translated_query("Did North Korea expel soldiers?", g, held.__contains__) == \
        "Nordkorea vertreiben Soldat Krieger"


def test_german_tokenizer_stems_and_drops_stopwords():
    toks = tokenize("Die Sprecherin des Kremls sagte, dass die Verhandlungen laufen")
    assert "die" not in toks and "des" not in toks
    assert tokenize("Verhandlungen") == tokenize("Verhandlung")
    assert tokenize("Kremls") == tokenize("Kreml")


def test_bm25_incremental_add_remove_and_persistence(tmp_path):
    idx = BM25Index(tmp_path / "lex.json")
    idx.add("1", "Der Kremlsprecher Peskow äußerte sich zu Nordkorea.")
    idx.add("2", "Das Wetter in Berlin war sonnig.")
    idx.add("3", "Lawrow reiste nach Pjöngjang.")
    assert idx.search("Wetter Berlin")[0][0] == "2"
    idx.remove("2")
    assert all(d != "2" for d, _ in idx.search("Wetter Berlin"))
    idx.add("3", "Lawrow reiste nach Moskau.")   # re-adding replaces
    assert idx.search("Pjöngjang") == []
    idx.save()
    again = BM25Index(tmp_path / "lex.json")
    assert again.ids() == {"1", "3"}
    assert again.search("Peskow")[0][0] == "1"
    assert again.total_length == idx.total_length
