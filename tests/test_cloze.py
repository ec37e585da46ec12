"""Cloze questions for the span head (rag/cloze.py): the asked phrase is taken out of the
sentence, the question word of its kind put in front, and the answer's offsets stay exact."""
import random

from rag import cloze
from rag.text import tokens


class Dictionary:
    """A stand-in for rag/glossary.py: English for a few words (a name's English is a name)."""
    WORDS = {"Wahrheit": "truth", "Lastwagen": "truck", "Deutschland": "Germany", "empfangen": "received",
             "wurde": "was", "Kosmodrom": "cosmodrome"}

    def english(self, word):
        return self.WORDS.get(word)

    def gloss(self, source, rendered):
        return " ".join(self.WORDS.get(w, w) for w in rendered.split())


def only(sentence, kind):
    """The cloze question of `kind` made from `sentence` (the phrase is chosen at random among
    the sentence's, so seeds are tried until that kind comes up)."""
    for seed in range(50):
        qs = [q for q in cloze.questions(sentence, random.Random(seed), Dictionary()) if q.kind == kind]
        if qs:
            return qs[0]
    raise AssertionError(f"no {kind} question from {sentence!r}")


def test_a_date_becomes_a_when_question_without_its_preposition():
    s = "Der russische Außenminister Sergej Lawrow wurde am Samstag von Staatschef Kim Jong-un in Wonsan empfangen."
    q = only(s, "when")
    assert q.question.startswith("Wann ") and q.question.endswith("?")
    assert s[q.start:q.end] == "Samstag"
    assert " am " not in q.question and "Samstag" not in q.question


def test_a_name_after_in_is_a_place_and_a_common_noun_is_not():
    s = "Der russische Außenminister Sergej Lawrow wurde am Samstag von Staatschef Kim Jong-un in Wonsan empfangen."
    q = only(s, "where")
    assert q.question.startswith("Wo ") and s[q.start:q.end] == "Wonsan"
    phrases = cloze.answer_phrases(tokens("Das Treffen verlief in Wahrheit ganz anders als geplant, sagte er."),
                                   Dictionary())
    assert not [p for p in phrases if p[0] == "where"]


def test_a_person_is_two_names_and_not_the_first_word_of_the_sentence():
    s = "Nach dem Treffen sagte Sergej Lawrow, die Gespräche mit Pjöngjang seien sehr gut verlaufen."
    q = only(s, "who")
    assert q.question.startswith("Wer ") and s[q.start:q.end] == "Sergej Lawrow"
    kinds = [(k, i) for k, i, _, _ in cloze.answer_phrases(tokens("Deutschland Lastwagen fahren bald allein."),
                                                             Dictionary())]
    assert kinds == []


def test_a_number_keeps_its_unit_and_a_date_is_no_count():
    s = "Die Regierung stellte am Montag insgesamt 1,5 Millionen Euro für die Opfer der Flut bereit."
    assert s[only(s, "count").start:only(s, "count").end] == "1,5 Millionen Euro"
    phrases = cloze.answer_phrases(tokens("Die Ergebnisse vom 8.6.2015 wurden erst später veröffentlicht."))
    assert not [p for p in phrases if p[0] == "count"]


def test_same_seed_same_questions_and_an_english_twin_on_request():
    texts = ["Die Regierung stellte am Montag insgesamt 1,5 Millionen Euro für die Opfer der Flut bereit. "
             "Nach dem Treffen sagte Sergej Lawrow, die Gespräche mit Pjöngjang seien sehr gut verlaufen."]
    a = cloze.from_articles(texts, 10, seed=3, glossary=Dictionary())
    assert a == cloze.from_articles(texts, 10, seed=3, glossary=Dictionary()) and len(a) == 2
    twins = cloze.from_articles(texts, 10, seed=3, glossary=Dictionary(), english=True)
    assert [q.lang for q in twins] == ["de", "en", "de", "en"]
    assert twins[1].question.split()[0] in {"When", "How", "Who", "Where"}
    assert cloze.from_articles(texts, 1) == cloze.from_articles(texts, 10)[:1]


def test_short_sentences_give_no_question():
    assert cloze.questions("Lawrow kam am Samstag.", random.Random(0)) == []
