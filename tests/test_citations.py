"""Citation markers: parsing, dropping, renumbering, streaming, spans. No models."""
from __future__ import annotations

import random

import pytest

from rag.citations import (MarkerRewriter, best_span, claims, parse_markers, rewrite_markers,
                           strip_markers, strip_quotes, supports)

SOURCE = ("Russlands Außenminister Sergei Lawrow hat zwei Tage lang Nordkorea besucht. Er beriet sich "
          "vor allem mit der nordkoreanischen Amtskollegin Choe Son Hui. Die Reise unterstreicht die "
          "Partnerschaft der beiden Staaten.")
OTHER = ("Kremlsprecher Dmitri Peskow sagte am Montag, ein Treffen sei nicht ausgeschlossen. "
         "Moskau machte sich über die Vorwürfe lustig.")


def test_parse_markers_reads_groups_and_labels():
    text = "A [1] b [2, 3] c [Quelle 4] d [source 5; 6] e [2024] f [x]"
    assert [m.numbers for m in parse_markers(text)] == [(1,), (2, 3), (4,), (5, 6)]
    m = parse_markers(text)[1]
    assert text[m.start:m.end] == "[2, 3]"


@pytest.mark.parametrize("text, k, expected, mapping, dropped", [
    ("Peskow ist Sprecher [1].", 3, "Peskow ist Sprecher [1].", {1: 1}, []),
    # out of range and zero are dropped together with the space before them
    ("Er sagte das [9]. Dann [2] ging er [1, 3].", 3, "Er sagte das. Dann [1] ging er [2][3].",
     {1: 2, 2: 1, 3: 3}, [9]),
    ("A [0][2] b [4].", 3, "A [1] b.", {1: 2}, [0, 4]),
    # repeated numbers within one run of markers are written once
    ("X [1][1] und Y [1] [1] z", 3, "X [1] und Y [1] z", {1: 1}, []),
    ("[9] Satz eins [2].", 3, "Satz eins [1].", {1: 2}, [9]),
    ("Absatz [1]\n\nNeu [4] [9]\n\nEnde", 3, "Absatz [1]\n\nNeu\n\nEnde", {1: 1}, [4, 9]),
    # a year in brackets is not a marker; a marker cut off at the end is dropped
    ("Im Jahr [2024] war es [1", 3, "Im Jahr [2024] war es", {}, []),
    ("Ohne Marker.", 3, "Ohne Marker.", {}, []),
])
def test_rewrite_markers(text, k, expected, mapping, dropped):
    out, new_to_old, gone = rewrite_markers(text, k)
    assert out == expected
    assert new_to_old == mapping
    assert gone == dropped


@pytest.mark.parametrize("text", [
    "Er sagte das [9]. Dann [2] ging er [1, 3]. Danach [Quelle 3] nichts [12][2].",
    "Absatz [1]\n\nNeu [4] [9]\n\nEnde [2, 7] und [ Quelle 1 ] sowie [2024] oder [abc] [1",
    "[3] Anfang und [3][3] mitten [ 1 ; 2 ] drin [5].",
])
def test_streaming_rewrite_equals_batch_for_any_chunking(text):
    expected = rewrite_markers(text, 3)
    rng = random.Random(7)
    for _ in range(50):
        r = MarkerRewriter(3)
        out, i = [], 0
        while i < len(text):
            step = rng.randint(1, 6)
            out.append(r.feed(text[i:i + step]))
            i += step
        out.append(r.finish())
        assert "".join(out).strip() == expected[0]
        assert r.new_to_old == expected[1]


def test_strip_markers_and_quotes():
    assert strip_markers("Peskow ist Sprecher [1][2]. Er sagte [3], dass") == "Peskow ist Sprecher. Er sagte, dass"
    assert "Beziehungen" not in strip_quotes('He said „Die Beziehungen sind gut“ [1].')


def test_claims_tie_each_marker_to_its_words():
    cs = claims("Lawrow besuchte Nordkorea für zwei Tage [1] und traf dort Kim Jong-un in Wonsan [2][3]. "
                "Das war im Juli. [3] [1] Ein Satz davor.")
    assert [(c.text, c.numbers) for c in cs] == [
        ("Lawrow besuchte Nordkorea für zwei Tage", (1,)),
        ("und traf dort Kim Jong-un in Wonsan", (2,)),
        ("und traf dort Kim Jong-un in Wonsan", (3,)),   # adjacent markers share their words
        ("Das war im Juli.", (3,)),                      # after the full stop: that sentence
        ("Das war im Juli.", (1,)),
    ]


def test_best_span_prefers_a_verbatim_quote():
    span = best_span("Sie sagte: „Er beriet sich vor allem mit der nordkoreanischen Amtskollegin“", SOURCE)
    assert span.exact
    assert SOURCE[span.start:span.end] == span.quote == \
        "Er beriet sich vor allem mit der nordkoreanischen Amtskollegin"


def test_best_span_picks_the_sentence_with_the_claims_words():
    span = best_span("Lawrow met Choe Son Hui", SOURCE)
    assert not span.exact
    assert span.quote == SOURCE[span.start:span.end]
    assert span.quote.startswith("Er beriet sich")
    span = best_span("Lawrow war zwei Tage in Nordkorea", SOURCE)
    assert span.quote.startswith("Russlands Außenminister")


def test_best_span_uses_a_given_scorer():
    # A scorer that prefers the last sentence wins over word overlap.
    span = best_span("Lawrow met Choe Son Hui", SOURCE, scorer=lambda c, xs: [i for i, _ in enumerate(xs)])
    assert span.quote.startswith("Die Reise")


def test_supports_map_renumbered_markers_to_their_sources():
    text, new_to_old, _ = rewrite_markers("Peskow sagte, ein Treffen sei möglich [2]. Lawrow traf Choe "
                                          "Son Hui [1] [7].", 2)
    found = supports(text, [SOURCE, OTHER], new_to_old)
    assert [(s.n, s.source_index) for s in found] == [(1, 1), (2, 0)]
    assert found[0].span.quote.startswith("Kremlsprecher Dmitri Peskow")
    assert found[1].span.quote.startswith("Er beriet sich")
    for s in found:
        src = [SOURCE, OTHER][s.source_index]
        assert src[s.span.start:s.span.end] == s.span.quote


def test_supports_ignore_numbers_without_a_source():
    assert supports("Satz [3].", [SOURCE], {3: 5}) == []
    assert supports("Kein Marker.", [SOURCE], {}) == []
