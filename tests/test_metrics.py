"""The evaluation's pure parts: metrics, answer matching, gold-file parsing, data loaders. No models."""
from __future__ import annotations

import json
import math

import pytest

from rag.evaluation import data, metrics
from rag.evaluation.data import EvalError


# --- retrieval metrics ------------------------------------------------------------------------
def test_first_rank_counts_a_document_once_at_its_best_passage():
    assert metrics.first_rank(["a", "a", "b", "c"], "b") == 2
    assert metrics.first_rank(["a", "b"], {"x", "b"}) == 2
    assert metrics.first_rank(["a", "b"], "z") is None


def test_recall_mrr_ndcg_on_known_ranks():
    ranks = [1, 3, None, 10, 11]
    assert metrics.recall_at(ranks, 1) == pytest.approx(0.2)
    assert metrics.recall_at(ranks, 5) == pytest.approx(0.4)
    assert metrics.recall_at(ranks, 10) == pytest.approx(0.6)
    assert metrics.mrr(ranks, 10) == pytest.approx((1 + 1 / 3 + 1 / 10) / 5)
    assert metrics.ndcg_at(ranks, 10) == pytest.approx((1 + 1 / math.log2(4) + 1 / math.log2(11)) / 5)
    assert metrics.recall_curve([2], 3) == [0.0, 1.0, 1.0]
    assert metrics.retrieval_summary([]) ["R@1"] == 0.0


def test_percentile_interpolates_like_numpy():
    xs = [10.0, 20.0, 30.0, 40.0]
    assert metrics.percentile(xs, 50) == pytest.approx(25.0)
    assert metrics.percentile(xs, 95) == pytest.approx(38.5)
    assert metrics.percentile([7.0], 95) == 7.0
    assert math.isnan(metrics.percentile([], 50))
    assert metrics.latency_summary([])["p50_ms"] is None


# --- answer matching --------------------------------------------------------------------------
def test_fold_removes_case_diacritics_and_eszett():
    assert metrics.fold("Wŏnsan PJÖNGJANG Straße") == "wonsan pjongjang strasse"


def test_german_and_english_name_spellings_match():
    assert metrics.contains_answer("Kremlin spokesman Dmitry Peskov said", ["Dmitri Peskow"])
    assert metrics.contains_answer("Lawrow reiste nach Pjöngjang.", ["Pyongyang"])
    assert metrics.contains_answer("mit Choe Son-hui", ["Choe Son Hui"])
    assert metrics.contains_answer("Der Kreml teilte mit", ["Kremlin"])
    assert metrics.contains_answer("bis Mittwoch in Moskau", ["Wednesday"])
    assert metrics.contains_answer("Er blieb zwei Tage lang.", ["2 Tage"])


def test_contains_needs_whole_tokens_in_order():
    assert not metrics.contains_answer("Peskowski", ["Peskow"])
    assert not metrics.contains_answer("Son Hui Choe", ["Choe Son Hui"])
    assert not metrics.contains_answer("anything", [])
    assert metrics.contains_answer("6,500 outlets", ["6.500"])


def test_equivalences_prefer_the_longest_variant():
    eq = metrics.parse_equivalences(["# comment", "Nordkorea\tNorth Korea", "Norden\tNorth"])
    assert eq.apply(["north", "korea", "north"]) == ["nordkorea", "norden"]
    assert metrics.parse_equivalences(["lonely"]).table == ()


def test_token_f1_drops_articles_and_takes_the_best_gold():
    assert metrics.token_f1("the Denver Broncos", ["Denver Broncos"], "en") == 1.0
    assert metrics.token_f1("die Panthers", ["Panthers"], "de") == 1.0
    assert metrics.token_f1("Denver", ["Denver Broncos", "Broncos"], "en") == pytest.approx(2 / 3)
    assert metrics.token_f1("", ["x"]) == 0.0
    assert metrics.token_f1("nothing shared", ["Broncos"]) == 0.0


def test_own_words_drop_quotes_and_markers():
    text = "Dmitri Peskow. According to [1]: “Der Kreml-Sprecher Dmitri Peskow sagte …” Also [2]: „Zitat“"
    assert metrics.own_words(text) == "Dmitri Peskow. According to: Also:"
    assert metrics.strip_markers("a [1] b [2, 3]") == "a b"


def test_the_word_for_word_english_after_quotes_can_be_left_out():
    """The report shows *contains gold* with and without the English after German quotes."""
    text = ("the town.\n\nThe article says (German) [1]: \u201cDie Stadt.\u201d (word for word: \u201cThe "
            "town.\u201d) Also, according to [2]: \u201cDer Hafen.\u201d (word for word: \u201cThe harbour.\u201d)")
    without = metrics.without_word_for_word(text)
    assert without == ("the town.\n\nThe article says (German) [1]: \u201cDie Stadt.\u201d Also, according "
                       "to [2]: \u201cDer Hafen.\u201d")
    assert metrics.contains_answer(text, ["harbour"]) and not metrics.contains_answer(without, ["harbour"])


def test_first_sentence_is_the_short_answer():
    assert metrics.first_sentence("Dmitri Peskow. Laut [1]: „Der Kreml-Sprecher …“") == "Dmitri Peskow."
    assert metrics.first_sentence("Am 3. Oktober [1].") == "Am 3. Oktober."
    assert metrics.first_sentence("Dr. Merz kam. Dann ging er.") == "Dr. Merz kam."
    assert metrics.first_sentence("2000. Laut [1]: „Putin …“") == "2000."
    # The short answer is a paragraph of its own: a day-like number before the break ends it.
    assert metrics.first_sentence("24.\n\nLaut [1]: „Mit 4:51 verbleibenden Minuten …“") == "24."
    assert metrics.first_sentence("No end") == "No end"
    assert metrics.first_sentence("") == ""


# --- citations and abstention -----------------------------------------------------------------
def test_citation_precision_and_recall():
    assert metrics.citation_precision(["a", "a", "b"], ["a"]) == 0.5
    assert metrics.citation_precision([], ["a"]) is None
    assert metrics.citation_recall(["b"], ["a", "b"]) == 1.0
    assert metrics.citation_recall(["b"], ["a", "b"], need_all=True) == 0.5
    assert metrics.citation_recall([], ["a"]) == 0.0


def test_abstention_scores():
    s = metrics.abstention_scores([True, True, False, False], [True, False, True, False])
    assert (s["precision"], s["recall"], s["f1"]) == (0.5, 0.5, 0.5)
    never = metrics.abstention_scores([True, False], [False, False])
    assert never["precision"] is None and never["recall"] == 0.0
    assert metrics.mean([None, 1.0, 0.0]) == 0.5 and metrics.mean([None]) is None


# --- data -------------------------------------------------------------------------------------
def _gold(**row):
    base = {"id": "q1", "question": "Wer?", "lang": "de", "answers": ["X"], "sources": ["a.txt"],
            "answerable": True, "follow_up_of": None}
    base.update(row)
    return json.dumps(base, ensure_ascii=False)


def test_parse_gold_reads_items_and_follow_ups():
    items = data.parse_gold([_gold(), "", _gold(id="q2", follow_up_of="q1", sources_needed="all"),
                             _gold(id="q3", answerable=False, answers=[], sources=[])])
    assert [i.id for i in items] == ["q1", "q2", "q3"]
    assert items[1].follow_up_of == "q1" and items[1].sources_needed == "all"
    assert not items[2].answerable


@pytest.mark.parametrize("line, message", [
    ("{not json", "not valid JSON"),
    ("[1]", "must be a JSON object"),
    (_gold(lang="fr"), "'lang' must be"),
    (_gold(question=" "), "non-empty string 'question'"),
    (_gold(answers=[]), "at least one gold answer"),
    (_gold(sources=[]), "at least one source"),
    (_gold(follow_up_of="nope"), "earlier item"),
    (_gold(colour="red"), "unknown field"),
    (_gold(answerable="yes"), "true or false"),
])
def test_parse_gold_rejects_bad_lines_with_one_sentence(line, message):
    with pytest.raises(EvalError, match=message) as e:
        data.parse_gold([line], name="g.jsonl")
    assert "g.jsonl line 1" in str(e.value)


def test_parse_gold_rejects_duplicate_ids_and_empty_files():
    with pytest.raises(EvalError, match="used twice"):
        data.parse_gold([_gold(), _gold()])
    with pytest.raises(EvalError, match="no questions"):
        data.parse_gold(["", "// just a comment"])


def test_shipped_gold_set_is_valid_and_balanced():
    items = data.load_gold(data.DEV_GOLD) + data.load_gold(data.DEFAULT_GOLD)
    langs = [i.lang for i in items]
    assert len(items) >= 40 and abs(langs.count("de") - langs.count("en")) <= 2
    assert sum(not i.answerable for i in items) >= 6
    assert sum(bool(i.follow_up_of) for i in items) >= 4
    assert sum(i.sources_needed == "all" for i in items) >= 3
    seeds = sorted(p for p in (data.PROJECT_ROOT / "seeds").glob("*.txt"))
    assert data.check_gold_sources(items, seeds) == []


def test_source_matches_by_name_or_path_suffix():
    assert data.source_matches("/x/seeds/a.txt", "a.txt")
    assert data.source_matches("/x/seeds/sub/a.txt", "sub/a.txt")
    assert not data.source_matches("/x/seeds/ba.txt", "a.txt")


def test_subset_is_fixed_and_paired_across_languages():
    qs = {lang: [data.XQuestion(f"id{i}", "p", lang, "?", ("a",)) for i in range(50)] for lang in ("de", "en")}
    de, en = data.subset(qs["de"], 10), data.subset(qs["en"], 10)
    assert [q.id for q in de] == [q.id for q in en] == [q.id for q in data.subset(qs["de"], 10)]
    assert len(de) == 10 and data.subset(qs["de"], None) == qs["de"]


def test_load_gnad_parses_label_and_quoted_text(tmp_path):
    f = tmp_path / "test.csv"
    f.write_text("Sport;'Ein Text; mit Semikolon und ''Zitat''.'\nWeb;'Zweiter'\n\n", encoding="utf-8")
    arts = data.load_gnad(f)
    assert [(a.id, a.label) for a in arts] == [("gnad-0000", "Sport"), ("gnad-0001", "Web")]
    assert arts[0].text == "Ein Text; mit Semikolon und 'Zitat'."
    with pytest.raises(EvalError, match="does not exist"):
        data.load_gnad(tmp_path / "missing.csv")


def test_load_xquad_pairs_english_questions_with_german_paragraphs(tmp_path):
    de = {"data": [{"title": "A_B", "paragraphs": [{"context": "Kontext", "qas": [
        {"id": "q1", "question": "Was? ", "answers": [{"text": "K", "answer_start": 0}]}]}]}]}
    en = {"data": [{"title": "A_B", "paragraphs": [{"context": "The Context", "qas": [
        {"id": "q1", "question": "What?", "answers": [{"text": "C", "answer_start": 4}]}]}]}]}
    (tmp_path / "xquad.de.json").write_text(json.dumps(de), encoding="utf-8")
    (tmp_path / "xquad.en.json").write_text(json.dumps(en), encoding="utf-8")
    x = data.load_xquad(tmp_path)
    assert x.paragraphs == [data.Paragraph("00-00", "A B", "Kontext")]
    # The German paragraph is the corpus; an English answer_start points into the English one.
    assert x.questions["en"][0] == data.XQuestion("q1", "00-00", "en", "What?", ("C",), (4,))
    assert x.questions["de"][0].answer_starts == (0,)
    assert data.xquad_docs(x.paragraphs) == {"00-00": "A B\n\nKontext\n"}


def test_write_corpus_rewrites_only_changed_files_and_drops_strays(tmp_path):
    folder = tmp_path / "c"
    data.write_corpus(folder, {"a": "one", "b": "two"})
    a_mtime = (folder / "a.txt").stat().st_mtime_ns
    (folder / "stray.txt").write_text("old", encoding="utf-8")
    paths = data.write_corpus(folder, {"a": "one", "b": "changed"})
    assert [p.name for p in paths] == ["a.txt", "b.txt"]
    assert (folder / "a.txt").stat().st_mtime_ns == a_mtime
    assert (folder / "b.txt").read_text(encoding="utf-8") == "changed"
    assert not (folder / "stray.txt").exists()


def test_cleaning_losses_reports_documents_the_rules_cut():
    losses = data.cleaning_losses({"ok": "Titel\n\nEin ganz normaler Absatz über Politik.\n",
                                   "cut": "Titel\n\nWERBUNG\n\nEin ganz normaler Absatz.\n"})
    assert [x["doc"] for x in losses] == ["cut"] and losses[0]["chars_lost"] == len("WERBUNG")


def test_gnad_teaser_becomes_the_headline_line():
    arts = [data.GnadArticle("gnad-0000", "Web", "Neues Video macht im Netz die Runde. Bei den iPhones ist der Wurm drin."),
            data.GnadArticle("gnad-0001", "Web", "Kein Satzende hier")]
    docs = data.gnad_docs(arts)
    assert docs["gnad-0000"] == "Neues Video macht im Netz die Runde.\n\nBei den iPhones ist der Wurm drin.\n"
    assert docs["gnad-0001"] == "Kein Satzende hier\n"


def test_write_notice_copies_the_licence_without_an_article_suffix(tmp_path):
    licence = tmp_path / "CC-BY-SA4.0.txt"
    licence.write_text("licence text", encoding="utf-8")
    data.write_notice(tmp_path / "c", "notice", licence)
    names = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert names == ["LICENSE-CC-BY-SA-4.0", "NOTICE"]


# --- scoring one answer and the report, with hand-made results ---------------------------------
class _Cit:
    def __init__(self, source):
        self.source = source


class _Answer:
    def __init__(self, text, sources=(), abstained=False, mode="extractive", notice=""):
        self.text, self.abstained, self.mode, self.notice = text, abstained, mode, notice
        self.citations = [_Cit(s) for s in sources]


def _record(**kw):
    from rag.evaluation.answer_eval import AnswerRecord

    base = dict(id="q", lang="en", question="Who is the Kremlin spokesman?", category="single",
                answerable=True, gold_answers=["Dmitri Peskov"], gold_sources=["001.txt"])
    base.update(kw)
    return AnswerRecord(**base)


def test_score_an_answer_with_quote_citations_and_language():
    from rag.evaluation.answer_eval import score, summarize

    name = lambda s: s.rsplit("/", 1)[-1]
    good = score(_record(), _Answer("Dmitri Peskow. According to [1]: “Der Kreml-Sprecher Dmitri Peskow sagte …”",
                                    ["/x/001.txt", "/x/004.txt"], mode="llm:m"), name)
    assert good.contains and good.f1 == 1.0 and good.lang_ok
    assert good.citation_precision == 0.5 and good.citation_recall == 1.0
    declined = score(_record(id="r"), _Answer("The articles I have don't say.", abstained=True,
                                              notice="The language model did not answer within 60 seconds."), name)
    assert declined.notice.startswith("The language model did not answer")
    assert declined.contains is False and declined.f1 == 0.0 and declined.lang_ok
    right_no = score(_record(id="n", answerable=False, gold_answers=[], gold_sources=[]),
                     _Answer("Dazu steht nichts in den Artikeln, die mir vorliegen.", abstained=True), name)
    assert not right_no.lang_ok and right_no.contains is None
    s = summarize([good, declined, right_no])
    assert s["contains"] == 0.5 and s["false_abstention_rate"] == 0.5
    assert s["abstention"]["precision"] == 0.5 and s["abstention"]["recall"] == 1.0
    assert s["language_match"] == pytest.approx(2 / 3)
    assert s["generated"] == pytest.approx(1 / 3)   # only `good` is the LLM's own answer


def test_gold_categories():
    from rag.evaluation.answer_eval import category

    item = data.GoldItem("a", "?", "de", ["x"], ["a.txt", "b.txt"])
    assert category(item) == "single"
    item.sources_needed = "all"
    assert category(item) == "multi-article"
    item.follow_up_of = "z"
    assert category(item) == "follow-up"
    item.answerable = False
    assert category(item) == "unanswerable"


def test_report_renders_tables_verdicts_and_plots(tmp_path):
    from rag.evaluation import report

    def run(retriever, lang, ranks, k=10):
        from rag.evaluation.retrieval_eval import RetrievalRun

        r = RetrievalRun(retriever, lang, "xquad", k, ranks=ranks, latencies_ms=[10.0] * len(ranks))
        return r.summary()

    runs = [run("dense", "de", [1, 2, None]), run("hybrid", "de", [1, 1, 3]),
            run("llamaindex-default", "de", [1, None, None], k=2), run("llamaindex-k10", "de", [1, 4, None])]
    meta = {"command": "python -m rag eval", "started": "t0", "finished": "t1", "environment": {"cpus": 2}}
    results = {"retrieval": {"meta": meta, "k": 10, "questions": {"de": 3}, "question_ids": "all",
                             "cleaning_losses": [], "runs": runs,
                             "corpora": {"xquad": {"documents": 240, "chunks": 300}}}}
    path = report.write(tmp_path, results)
    text = path.read_text(encoding="utf-8")
    assert "python -m rag eval" in text
    assert "✅ vs dense only" in text and "✅ vs llama-index default" in text
    assert "| llama-index default (top-k 2) | de→de | 33.3 | 33.3 | – | – |" in text
    assert (tmp_path / "recall_at_k_xquad.png").stat().st_size > 1000


def test_paragraphs_in_articles_sit_at_the_end_of_distinct_articles():
    from rag.evaluation.data import EvalError, GnadArticle, Paragraph, paragraphs_in_articles

    paras = [Paragraph("00-00", "Super Bowl 50", "Die Broncos gewannen."), Paragraph("00-01", "Rhein", "Der Rhein fließt.")]
    hosts = [GnadArticle(f"gnad-{i:04d}", "Web", f"Ein Teaser Nummer {i} steht hier. Dann folgt der Text {i}.")
             for i in range(3)]
    docs = paragraphs_in_articles(paras, hosts)
    assert list(docs) == ["00-00", "00-01"]
    assert docs["00-00"].startswith("Ein Teaser Nummer 0") and docs["00-00"].endswith("Super Bowl 50\n\nDie Broncos gewannen.\n")
    assert "Text 1." in docs["00-01"] and docs["00-01"].index("Der Rhein") > docs["00-01"].index("Text 1.")
    with pytest.raises(EvalError, match="needs as many 10kGNAD articles"):
        paragraphs_in_articles(paras, hosts[:1])


def test_report_names_why_llm_answers_fell_back():
    from rag.evaluation.report import fallbacks

    records = [{"mode": "llm:m", "notice": ""},
               {"mode": "extractive", "notice": "The language model did not answer within 60 seconds."},
               {"mode": "extractive", "notice": "The language model did not answer within 60 seconds."},
               {"mode": "extractive", "notice": "", "error": "bad question"}]
    text = fallbacks(records)
    assert text.startswith("2 of 4 answers fell back") and "2 × “The language model did not answer" in text
    assert fallbacks(records[:1]) == "Every answer is the LLM's own (verified)."


def test_span_ceiling_scores_the_german_gold_span_against_each_language():
    """The report's ceiling: the German gold span, shaped as the reader would answer, scored against
    the question's own gold answers. English gold words that the German article does not have
    ("the Broncos" vs "die Broncos") cannot be matched; dates rendered to English can."""
    from rag.evaluation.answer_eval import span_ceiling

    q = lambda i, lang, answer: data.XQuestion(i, "00-00", lang, "?", (answer,), (0,))
    german = {"a": q("a", "de", "die Broncos"), "b": q("b", "de", "im September 2023")}
    en = span_ceiling([q("a", "en", "the Broncos"), q("b", "en", "September 2023")], german)
    de = span_ceiling(list(german.values()), german)
    assert de == {"n": 2, "contains": 1.0, "f1": 1.0}
    assert en["n"] == 2 and en["contains"] == 0.5 and 0.5 < en["f1"] < 1.0
