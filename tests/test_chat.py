"""Follow-up detection, rule-based rewriting, history budget and marker stripping. No models."""
from __future__ import annotations

import pytest

from rag.chat import (answer_names, clean_rewrite, entities, is_follow_up, normalize_history,
                      question_language, rule_rewrite, standalone_by_rules, trim_history)


@pytest.mark.parametrize("question, lang, expected", [
    ("Und wann war das?", "de", True),
    ("Was hat er gesagt?", "de", True),
    ("Wo fand das statt?", "de", True),
    ("Und Putin?", "de", True),
    ("What did she say there?", "en", True),
    ("And when was that?", "en", True),
    ("Wann war das Treffen?", "de", False),           # "das" is an article here
    ("Wer ist der Sprecher des Kremls?", "de", False),
    ("Wie viele Menschen gibt es in Berlin?", "de", False),
    ("Who is the Kremlin spokesman?", "en", False),
    ("Are there sanctions against North Korea?", "en", False),   # existential "there"
])
def test_is_follow_up(question, lang, expected):
    assert is_follow_up(question, lang) is expected


def test_entities_keep_names_together():
    assert entities("Who did Lavrov meet in North Korea in 2024?", "en") == ["Lavrov", "North Korea", "2024"]
    assert "Nordkorea" in " ".join(entities("Wann besuchte Lawrow Nordkorea?", "de"))


def test_answer_names_come_from_the_first_sentence_without_quotes_or_markers():
    answer = ("Choe Son Hui. According to [1]: “Er beriet sich vor allem mit der Amtskollegin Choe Son Hui.” "
              "Also Kim Jong Un.")
    assert answer_names(answer) == ["Choe Son Hui"]


def test_rule_rewrite_carries_the_previous_questions_entities():
    out = rule_rewrite("Und wann war das?", "de", "Wann besuchte Lawrow Nordkorea?")
    assert out.startswith("Und wann war das?") and "Lawrow" in out and "Nordkorea" in out
    # a standalone question is left alone
    assert rule_rewrite("Wer ist Dmitri Peskow?", "de", "Wann besuchte Lawrow Nordkorea?") == "Wer ist Dmitri Peskow?"
    assert rule_rewrite("Und wann war das?", "de", "") == "Und wann war das?"


def test_rule_rewrite_adds_the_name_the_previous_answer_gave():
    history = [("Who did Lavrov meet in North Korea?",
                "Choe Son Hui. According to [1]: “Er beriet sich vor allem mit der Amtskollegin Choe Son Hui.”")]
    s = standalone_by_rules("What did she say there?", "en", history)
    assert s.method == "rules"
    assert s.question == "What did she say there? (Lavrov, North Korea, Choe Son Hui)"


def test_context_carries_across_several_follow_ups():
    history = [("Wann besuchte Lawrow Nordkorea?", "Im Juli [1]."), ("Und wen traf er dort?", "Kim Jong-un [1].")]
    s = standalone_by_rules("Und was hat er gesagt?", "de", history)
    assert "Lawrow" in s.question and "Nordkorea" in s.question


def test_no_history_means_no_rewrite():
    s = standalone_by_rules("Und wann war das?", "de", [])
    assert (s.question, s.method) == ("Und wann war das?", "none")


def test_trim_history_keeps_the_newest_turns_within_budget_and_strips_markers():
    history = [("erste Frage", "alte Antwort [1] " * 50), ("zweite Frage", "Antwort [2]."),
               ("dritte Frage", "Antwort drei [1][2].")]
    out = trim_history(history, 60)
    assert out == [("zweite Frage", "Antwort."), ("dritte Frage", "Antwort drei.")]
    # the newest turn is always kept, its answer cut to fit
    out = trim_history([("Frage", "x" * 500)], 50)
    assert out == [("Frage", "x" * 45)]


def test_normalize_history_accepts_pairs_and_chat_messages():
    msgs = [{"role": "user", "content": "Wer?"}, {"role": "assistant", "content": "Peskow [1]."},
            {"role": "user", "content": "Und wann?"}]
    assert normalize_history(msgs) == [("Wer?", "Peskow [1]."), ("Und wann?", "")]
    assert normalize_history([("a", "b"), ["c", None], ("", "x"), "junk"]) == [("a", "b"), ("c", "")]
    assert normalize_history(None) == []


def test_question_language_of_a_very_short_follow_up_is_the_previous_ones():
    assert question_language("Und Putin?", [("Wer ist der Sprecher des Kremls?", "")]) == "de"
    assert question_language("Und Putin?", [("Who is the Kremlin spokesman?", "")]) == "en"


def test_clean_rewrite_rejects_what_is_not_a_question_in_the_language():
    assert clean_rewrite("Standalone question: When did Lavrov visit North Korea?\nBecause...",
                         "When was that?", "en") == "When did Lavrov visit North Korea?"
    assert clean_rewrite("", "Und wann?", "de") is None
    assert clean_rewrite("When did Lavrov visit North Korea and meet the minister?", "Und wann war das?", "de") is None
    assert clean_rewrite("x" * 1000, "Und wann?", "de") is None
