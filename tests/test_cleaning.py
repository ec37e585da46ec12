"""Boilerplate removal and metadata on the five seed articles and on synthetic pages."""
from pathlib import Path

import pytest

from rag import cleaning

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def seed(prefix: str) -> str:
    return next(SEEDS.glob(prefix + "_*.txt")).read_text(encoding="utf-8")


JUNK = ["Diesen Artikel teilen", "Einbetten des Videos", "WERBUNG", "Copyright AFP", "Zum selben Thema",
        "Leave a Reply", "Schreibe einen Kommentar", "Folgen Sie RT", "Sie können diese Geschichte",
        "Quelllink", "source site", "SeaPRwire liefert", "Der Artikel wird von einem Drittanbieter",
        "Branchen:", "Mehr zum Thema", "(SeaPRwire)"]


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003", "004"])
def test_seed_boilerplate_is_gone_and_story_stays(prefix):
    raw = seed(prefix)
    cleaned = cleaning.clean(raw)
    for junk in JUNK:
        assert junk not in cleaned.text, junk
    # The story itself survives: the longest paragraph of the raw text is still there.
    longest = max(raw.split("\n"), key=len).strip()
    assert longest in cleaned.text or prefix == "001"
    assert cleaned.dropped_lines > 0


def test_offsets_map_back_to_the_source_verbatim():
    raw = seed("000")
    cleaned = cleaning.clean(raw)
    sentence = "Er beriet sich vor allem mit der nordkoreanischen Amtskollegin\xa0Choe Son Hui."
    i = cleaned.text.index(sentence)
    s, e = cleaned.to_source(i), cleaned.to_source(i + len(sentence))
    assert raw[s:e] == sentence


def test_prefix_strip_keeps_the_sentence_and_maps_offsets():
    raw = seed("001")
    cleaned = cleaning.clean(raw)
    assert "Am Dienstag empfing" in cleaned.text
    i = cleaned.text.index("Am Dienstag empfing")
    assert raw[cleaned.to_source(i):].startswith("Am Dienstag empfing")


@pytest.mark.parametrize("prefix,outlet", [("000", "Euronews"), ("001", "SeaPRwire"), ("004", "POLITICO"),
                                            ("003", "")])
def test_outlet(prefix, outlet):
    assert cleaning.detect_outlet(seed(prefix)) == outlet


def test_outlet_from_title_suffix_with_section():
    assert cleaning.detect_outlet(seed("002")).startswith("RT")


def test_rules_are_data_and_custom_rules_apply():
    rules = (cleaning.Rule("drop", __import__("re").compile("^Paywall", 2)),)
    cleaned = cleaning.clean("Titel der Geschichte\n\nPaywall: jetzt abonnieren\n\nDer Text bleibt.", rules)
    assert cleaned.text == "Titel der Geschichte\n\nDer Text bleibt."


def test_repeated_lines_and_captions_are_dropped():
    raw = ("Schlagzeile über etwas Wichtiges\n\nEin Bild von etwas\nEin Bild von etwas Foto: dpa Copyright X\n\n"
           "Schlagzeile über etwas Wichtiges\n\nDer eigentliche Text steht hier.")
    text = cleaning.clean(raw).text
    assert text.count("Schlagzeile") == 1
    assert "Ein Bild" not in text


def test_date_and_url_from_the_header():
    raw = "Titel\nVeröffentlicht am 3. März 2024\nURL: https://example.org/a/b.html\n\nText."
    assert cleaning.detect_date(raw) == "2024-03-03"
    assert cleaning.detect_url(raw) == "https://example.org/a/b.html"
    assert cleaning.detect_date("Titel\n\n12.11.2023 – Berlin") == "2023-11-12"
    assert cleaning.detect_date(seed("002")) == ""
