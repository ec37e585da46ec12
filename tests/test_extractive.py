"""Short answers and sentence picking, as pure functions (no model)."""
import pytest

from rag.extractive import question_type, short_answer


@pytest.mark.parametrize("q,kind", [
    ("Wer ist der Sprecher des Kremls?", "who"), ("Who is the spokesman?", "who"),
    ("Wann besuchte Lawrow Nordkorea?", "when"), ("When did Putin visit?", "when"),
    ("Wo trafen sie sich?", "where"), ("Where did they meet?", "where"),
    ("Wie viele Schuss Artillerie?", "count"), ("How many rounds?", "count"),
    ("Warum reiste er?", ""),
])
def test_question_type(q, kind):
    assert question_type(q) == kind


@pytest.mark.parametrize("q,sentence,expected", [
    ("Wer ist der Sprecher des Kremls?",
     "Der Kreml-Sprecher Dmitri Peskow sagte, der Präsident werde reisen.", "Dmitri Peskow"),
    ("Wer ist der Außenminister Russlands?", "Dort traf Russlands Außenminister Lawrow den Gast.", "Lawrow"),
    ("Wer ist der britische Verteidigungsminister?",
     "sagte der britische Verteidigungsminister Grant Shapps Anfang des Monats.", "Grant Shapps"),
    ("Wann besuchte Lawrow Nordkorea?", "Lawrow besuchte Nordkorea im Oktober desselben Jahres.", "im Oktober"),
    ("Wie viele Schuss Artillerie lieferte Nordkorea?",
     "Nordkorea habe eine Million Schuss Artillerie geliefert.", "eine Million Schuss"),
    ("Wie viel kostete die Brücke?", "Die Brücke (||0) kostete 3 Millionen Euro.", "3 Millionen Euro"),
    ("Wo fand das Treffen statt?", "Ihr Treffen fand in der Küstenstadt Wŏnsan statt.", "Wŏnsan"),
    ("Warum reiste er?", "Er reiste, weil er eingeladen war.", ""),
    ("Wer ist der Sprecher des Kremls?", "Der Kreml äußerte sich nicht.", ""),
])
def test_short_answer(q, sentence, expected):
    assert short_answer(q, sentence) == expected


def test_person_named_in_the_question_is_not_the_answer():
    s = "Der russische Außenminister Sergei Lawrow wurde am Samstag von Staatschef Kim Jong-un empfangen."
    assert short_answer("Wer hat Lawrow in Nordkorea empfangen?", s) == "Kim Jong-un"


def test_names_after_dates_and_before_time_words():
    assert short_answer("Wer sprach am Dienstag?", "Am Dienstag Dmitri Peskow zufolge blieb alles offen.") == "Dmitri Peskow"
