"""The browser chat's HTML: escaping, [n] links, quote highlighting, the sources panel. No models."""
from __future__ import annotations

import html
from html.parser import HTMLParser

import pytest

import ui_render as ui
from rag.results import Answer, Citation, Passage

PAYLOADS = [
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    "<svg onload=alert(1)>",
    "[click](javascript:alert(1))",
    "${window.__pwned=1}",
    "{{constructor.constructor('alert(1)')()}}",
    "$$\\href{javascript:alert(1)}{x}$$",
    "```mermaid\ngraph TD; A-->B\n```",
    "&lt;script&gt;already-escaped&lt;/script&gt;",
    "' \" ` * _ # ~ | \\",
]
ALLOWED_TAGS = {"div", "span", "a", "mark", "blockquote", "b", "br", "details", "summary", "table", "tr",
                "th", "td", "q"}
ALLOWED_ATTRS = {"class", "id", "href", "title", "target", "rel", "data-turn", "data-lang"}


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data):
        self.text.append(data)


def parse(markup: str) -> _Tags:
    p = _Tags()
    p.feed(markup)
    p.close()
    return p


def assert_inert(markup: str) -> None:
    """Only our own tags and attributes, no script URLs, no raw template or markup syntax."""
    p = parse(markup)
    assert set(p.tags) <= ALLOWED_TAGS, set(p.tags) - ALLOWED_TAGS
    assert {name for name, _ in p.attrs} <= ALLOWED_ATTRS
    for name, value in p.attrs:
        if name == "href":
            assert value.startswith(("#src-", "http://", "https://")), value
    for raw in ("${", "{{", "$$", "```", "](", "<script", "<img", "<svg"):
        assert raw not in markup, raw


def make_answer(text="Laut [1]: „Peskow sagte das.“", abstained=False, language="de", **fields):
    passage = Passage(chunk_id="c1", text=fields.pop("passage_text", "Vorher. Peskow sagte das. Danach."),
                      source=fields.pop("source", "/store/uploads/artikel.txt"),
                      title=fields.pop("title", "Kreml-Titel"), outlet=fields.pop("outlet", "Euronews"),
                      date=fields.pop("date", "2024-05-02"), url=fields.pop("url", ""))
    citation = Citation(n=1, source=passage.source, title=passage.title, outlet=passage.outlet,
                        quote=fields.pop("quote", "Peskow sagte das."), start=8, end=25, chunk_id="c1",
                        date=passage.date, url=passage.url, title_english=fields.pop("title_english", ""))
    citations = fields.pop("citations", [citation] if not abstained else [])
    passages = fields.pop("passages", [passage])
    return Answer(text=text, language=language, abstained=abstained, citations=citations,
                  passages=passages, **fields)


# --- escaping ---------------------------------------------------------------------------------
@pytest.mark.parametrize("payload", PAYLOADS)
def test_escape_shows_the_text_exactly_and_is_inert(payload):
    out = ui.escape(payload)
    assert html.unescape(out) == payload
    assert "<" not in out and ">" not in out
    assert_inert(f"<div>{out}</div>")


def test_escape_uses_decimal_entities_only():
    # The chat's Markdown pipeline prints hex references such as &#x27; literally.
    assert "&#x" not in ui.escape("'\"<>&")


def test_escape_lines_has_no_raw_newlines():
    out = ui.escape_lines("eins\n\nzwei\r\ndrei")
    assert "\n" not in out and "\r" not in out
    assert out.count("<br>") == 3


@pytest.mark.parametrize("url,ok", [
    ("https://example.org/a?b=1", True), ("http://example.org", True), ("javascript:alert(1)", False),
    ("JaVaScRiPt:alert(1)", False), ("data:text/html,<script>", False), ("//evil.example/x", False),
    ("/relative", False), ("http://[::1", False), ("", False),
])
def test_safe_url(url, ok):
    assert ui.safe_url(url) == (url if ok else "")


# --- chat bubbles -----------------------------------------------------------------------------
def test_answer_markers_become_links_to_this_turns_sources():
    out = ui.answer_html("Laut [1]: x. Außerdem laut [2]: y.", turn=4, valid={1, 2})
    assert out.count('class="rag-cite"') == 2
    assert 'href="#src-4-1"' in out and 'href="#src-4-2"' in out
    assert "rag-turn-4" in out
    assert_inert(out)


def test_the_word_for_word_english_after_a_quote_is_set_apart():
    text = ("two days.\n\nThe article says (German) [1]: \u201cZwei Tage.\u201d (word for word: \u201cTwo "
            "days.\u201d) Also, according to [2]: \u201cAm Samstag.\u201d (word for word: \u201cOn Saturday.\u201d)")
    out = ui.answer_html(text, turn=1, valid={1, 2})
    assert out.count('<span class="rag-gloss">') == 2 and out.count('class="rag-cite"') == 2
    assert html.unescape(parse(out).text[-1]).strip().startswith("(word for word:")
    assert ".rag-gloss" in ui.CSS
    assert_inert(out)


def test_markers_without_a_source_stay_plain_text():
    out = ui.answer_html("Laut [1] und [7].", turn=0, valid={1})
    assert 'href="#src-0-1"' in out and "src-0-7" not in out
    assert html.unescape(parse(out).text[-1]).endswith("[7].")


def test_grouped_markers_link_each_number():
    out = ui.answer_html("Both say so [1, 2].", turn=2)
    assert 'href="#src-2-1"' in out and 'href="#src-2-2"' in out


@pytest.mark.parametrize("payload", PAYLOADS)
def test_question_answer_and_error_bubbles_are_inert(payload):
    for out in (ui.user_html(payload), ui.answer_html(f"Laut [1]: {payload}", 1, {1}),
                ui.error_html(payload)):
        assert_inert(out)
        assert payload.replace("\n", "") in "".join(parse(out).text)


# --- quotes -----------------------------------------------------------------------------------
def test_find_quote_exact_then_whitespace_and_case_insensitive():
    text = "Der Kreml-Sprecher Dmitri Peskow\nsagte am Montag etwas."
    assert ui.find_quote(text, "Dmitri Peskow") == (19, 32)
    s, e = ui.find_quote(text, "dmitri peskow sagte")
    assert text[s:e] == "Dmitri Peskow\nsagte"
    assert ui.find_quote(text, "Wladimir Putin") is None
    assert ui.find_quote(text, "") is None


def test_highlight_escapes_and_merges_overlapping_spans():
    text = "a <b> quote & more"
    out = ui.highlight(text, [(2, 7), (4, 9), (20, 30)])
    assert out.count("<mark") == 1
    assert html.unescape(out.replace('<mark class="rag-quote">', "").replace("</mark>", "")) == text
    assert "<b>" not in out


# --- sources panel ----------------------------------------------------------------------------
def test_sources_panel_marks_the_quote_in_its_passage():
    out = ui.sources_html(make_answer(), turn=3)
    assert 'id="src-3-1"' in out
    assert '<mark class="rag-quote">Peskow sagte das.</mark>' in out
    for field in ("Euronews", "Kreml-Titel", "2024-05-02", "artikel.txt"):
        assert field in out
    assert "Quellen" in out and "Deutsch" in out   # labels follow the answer's language
    assert_inert(out)


def test_sources_panel_in_english_for_english_answers():
    out = ui.sources_html(make_answer(text="According to [1]: x", language="en"), turn=1,
                          auto_language=False)
    assert "Sources" in out and "English" in out and "chosen in Settings" in out
    assert 'data-lang="en"' in out


def test_an_english_answers_source_gives_its_title_word_for_word():
    """A reader without German sees what the cited article is about, set apart as the quotes'
    word-for-word English is; a German answer has none."""
    out = ui.sources_html(make_answer(text="According to [1]: x", language="en", title="Kreml-Titel",
                                      title_english="Kremlin title"), turn=1)
    assert ('<div class="rag-title">Kreml-Titel</div><div class="rag-title-gloss"><span class="rag-gloss">'
            'Title word for word: Kremlin title</span></div>') in out, out
    assert "rag-title-gloss" not in ui.sources_html(make_answer(), turn=1)


def test_rewritten_follow_up_is_shown_only_when_it_differs():
    answer = make_answer(question="Was sagte Peskow über Putins Besuch?")
    out = ui.sources_html(answer, turn=2, asked="Und was sagte er über den Besuch?")
    assert "Gesucht nach" in out and "Was sagte Peskow über Putins Besuch?" in out
    assert "rag-searched" not in ui.sources_html(answer, turn=2, asked="Was sagte Peskow  über Putins Besuch?")
    assert "rag-searched" not in ui.sources_html(answer, turn=2)


def test_unknown_date_is_left_out():
    out = ui.sources_html(make_answer(date=""), turn=0)
    assert 'class="rag-date"' not in out


def test_quote_missing_from_its_passage_is_still_shown():
    out = ui.sources_html(make_answer(quote="Ein Satz, der nicht im Text steht."), turn=0)
    assert "Ein Satz, der nicht im Text steht." in out
    assert 'id="src-0-1"' in out


def test_abstention_says_so_and_shows_closest_passages():
    out = ui.sources_html(make_answer(text="Dazu steht nichts in den Artikeln.", abstained=True), turn=0)
    assert "Keine Antwort in den Artikeln" in out
    assert "rag-context" in out and "Vorher. Peskow sagte das." in out
    assert "<mark" not in out


def test_abstention_without_passages():
    out = ui.sources_html(make_answer(text="The articles I have don't say.", abstained=True, language="en",
                                      passages=[]), turn=0)
    assert "No answer in the articles" in out and "No passages matched" in out


def test_uncited_passages_are_offered_collapsed():
    extra = Passage(chunk_id="c2", text="Ein anderer Absatz.", source="/x/b.txt", title="B")
    answer = make_answer()
    answer.passages.append(extra)
    out = ui.sources_html(answer, turn=0)
    assert "<details" in out and "Ein anderer Absatz." in out


def test_two_quotes_in_one_passage_are_both_marked():
    answer = make_answer(passage_text="Erstens gilt A. Zweitens gilt B. Drittens C.")
    answer.citations = [
        Citation(1, "/s.txt", "T", "O", "Erstens gilt A.", 0, 15, chunk_id="c1"),
        Citation(1, "/s.txt", "T", "O", "Drittens C.", 33, 44, chunk_id="c1")]
    out = ui.sources_html(answer, turn=0)
    assert out.count("<mark") == 2 and out.count('id="src-0-1"') == 1


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sources_panel_is_inert_whatever_the_article_says(payload):
    answer = make_answer(text=f"Laut [1]: {payload}", passage_text=f"Davor. {payload} Danach.", quote=payload,
                         title=payload, title_english=payload, outlet=payload, source=f"/up/{payload[:20]}.txt",
                         url="javascript:alert(1)", date=payload, notice=payload, question=payload)
    out = ui.sources_html(answer, turn=1, asked="Frage")
    assert_inert(out)
    assert payload in "".join(parse(out).text)


def test_http_article_url_becomes_a_safe_link():
    out = ui.sources_html(make_answer(url="https://example.org/artikel"), turn=0)
    assert 'href="https://example.org/artikel"' in out and 'rel="noopener noreferrer nofollow"' in out


# --- inputs and tables ------------------------------------------------------------------------
@pytest.mark.parametrize("value,expected", [("", ""), ("  ", ""), ("2024-05-31", "2024-05-31"),
                                            (" 2024-01-02 ", "2024-01-02")])
def test_check_date_accepts(value, expected):
    assert ui.check_date(value, "from") == expected


@pytest.mark.parametrize("value", ["2024-13-45", "31.05.2024", "2024-5-1", "yesterday", "2024-02-30"])
def test_check_date_refuses_with_a_sentence(value):
    with pytest.raises(ValueError, match=r"^The from date .* is not a date like 2024-05-31\.$"):
        ui.check_date(value, "from")


def test_article_rows_choices_and_outlets():
    arts = [dict(source="/a/one.txt", title="Eins", outlet="Euronews", date="", url="", chunks=2),
            dict(source="/b/two.md", title="", outlet="", date="2024-01-01", url="", chunks=1),
            dict(source="/c/three.md", title="Drei", outlet="apa", date="", url="", chunks=4)]
    assert ui.article_rows(arts)[0] == ["Eins", "Euronews", "", 2, "one.txt"]
    assert ui.article_choices(arts)[1] == ("two.md", "/b/two.md")
    assert ui.outlet_choices(arts) == ["apa", "Euronews"]


def test_info_and_status_show_mode_and_llm_escaped():
    info = {"mode": "llm:<b>x</b>", "llm": "", "embedding_model": "e5-small", "chunks": 17, "extra": "<i>"}
    out = ui.info_html(info, 5)
    assert "extractive mode" in out and "llm:&#60;b&#62;x" in out and "extra" in out
    assert_inert(out)
    status = ui.status_html(info, 5)
    assert "5 articles" in status and "LLM: none" in status
    assert_inert(status)


def test_format_bytes():
    assert ui.format_bytes(5_000_000) == "5.0 MB"
    assert ui.format_bytes(2_500) == "2 kB"   # rounded half to even
    assert ui.format_bytes(12) == "12 bytes"


def test_unverified_claims_are_shown_struck_through_and_the_claim_check_lists_all():
    from rag.results import ClaimSupport

    claims = [ClaimSupport("Peskow sagte das", [1], 0.93, True, cited=[1], evidence="Peskow sagte das."),
              ClaimSupport("Die Inflation <b>liegt</b> bei 40 Prozent", [], 0.0, False, status="removed", cited=[1])]
    answer = make_answer(claims=claims)
    bubble = ui.unverified_html(answer)
    assert "Entfernt" in bubble and 'class="rag-struck"' in bubble and "40 Prozent" in bubble
    assert "Peskow" not in bubble
    panel = ui.sources_html(answer, turn=1)
    assert "rag-claim-ok" in panel and "rag-claim-bad" in panel and "0.93" in panel
    assert_inert(bubble)
    assert_inert(panel)
    assert ui.unverified_html(make_answer()) == ""       # extractive answers: nothing to add
