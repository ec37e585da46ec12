"""The baseline reader (RAG_READER=baseline): hand-tuned scoring of sentences and short answers,
kept so that the evaluation can show it beside the learned reader (rag/reader.py) that replaced
it as the default. Verbatim quotes with [n] markers framed in the question's language; a short
answer first for factoid questions."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from . import lang as langs
from .lexical import stopwords, tokenize
from .render import lead_with
from .results import Citation, Passage
from .text import full_sentences, word_overlap

# The answer phrasing lives with the other language rules (rag/lang/).
PHRASES = {code: langs.rules(code).PHRASES for code in langs.SUPPORTED}


@dataclass
class Candidate:
    passage_index: int
    passage: Passage
    start: int      # offsets within the passage text
    end: int
    text: str
    score: float = 0.0


def abstention_text(lang: str) -> str:
    return PHRASES.get(lang, PHRASES["en"])["abstain"]


def candidates(passages: list[Passage], max_passages: int = 3) -> list[Candidate]:
    texts = [p.text for p in passages[:max_passages]]
    return [Candidate(i, passages[i], s.start, s.end, s.text) for i, s in full_sentences(texts, 25, 4)]


def score(question: str, lang: str, cands: list[Candidate], q_vec: np.ndarray,
          s_vecs: np.ndarray) -> None:
    """Semantic similarity to the question, plus shared content words, plus a little for the
    passage's retrieval rank; for who/when/where/how-many questions, a sentence that holds a
    phrase of the asked-for kind is preferred, and a bare headline is not."""
    q_terms = set(tokenize(question, "de")) | set(tokenize(question, "en"))
    kind = question_type(question)
    sims = s_vecs @ q_vec if len(cands) else np.zeros(0)
    for c, sim in zip(cands, sims):
        terms = set(tokenize(c.text, "de")) | set(tokenize(c.text, "en"))
        overlap = len(q_terms & terms) / max(1, len(q_terms))
        c.score = float(sim) + 0.08 * overlap - 0.01 * c.passage_index
        if kind and _candidates(kind, c.text, q_terms):
            c.score += 0.02
        if c.passage.title and c.text.strip() == c.passage.title.strip():
            c.score -= 0.02


def citation_for(n: int, c: Candidate) -> Citation:
    return c.passage.cite(n, c.start, c.end)


# --- short answers for factoid questions ------------------------------------------------------
_QTYPES = [
    ("count", r"\b(wie viele|wieviele|wie viel|how many|how much)\b"),
    ("when", r"\b(wann|seit wann|in welchem jahr|when|what year|which year|what day)\b"),
    ("where", r"\b(wo|wohin|woher|in welche[rm]? (stadt|land|ort)|where|in which (city|country))\b"),
    ("who", r"\b(wer|wen|wem|wessen|wie hei(ß|ss)t|who|whom|whose|what is the name)\b"),
]
_NUMBER_WORDS = r"(?:zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|zwanzig|hundert|tausend|two|three|four|five|six|seven|eight|nine|ten|dozen|hundred|thousand)"
_MONTHS = r"(?:Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember|January|February|March|May|June|July|October|December)"
_DAYS = r"(?:Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_PATTERNS = {
    "count": re.compile(rf"(?<![|\w(])(?:(?:\d[\d.,]*\d|\d|{_NUMBER_WORDS})\b(?:\s(?:Millionen|Milliarden|Million|Billion|Mio\.|Mrd\.|Prozent|percent|%))?|(?:eine?|one|a)\s(?:Million|Milliarde|million|billion|dozen|hundred|thousand))(?:\s[A-ZÄÖÜa-zäöüß][\w-]+)?", re.I),
    "when": re.compile(rf"\b(?:(?:am |im |on |in )?(?:\d{{1,2}}\.\s?)?{_MONTHS}(?:\s\d{{4}})?|(?:am |on )?{_DAYS}|(?:im Jahr |in )?(?:19|20)\d\d|(?:letzte[nr]?|vergangene[nr]?|last|next) (?:Woche|Monat|Jahr|Jahres|week|month|year))\b"),
}
_CAP = r"[A-ZÄÖÜŎŌ][\w'’ŏō-]+"
_NAME = re.compile(rf"{_CAP}(?:\s(?:{_CAP}|von|van|de|bin|al)\b){{1,6}}")
_PLACE = re.compile(rf"\b(?:in|nach|aus|im|at|to|from)\s(?:der\s|dem\s|the\s)?(?:\w+stadt\s|Hauptstadt\s|city of\s)?({_CAP}(?:\s{_CAP})?)")


def question_type(question: str) -> str:
    q = question.lower()
    for name, pattern in _QTYPES:
        if re.search(pattern, q):
            return name
    return ""


# Job titles and honorifics precede names in news German and English; they are not the name.
_ROLE = re.compile(
    r"(?i)^(?:\w*-)?\w*(präsident|minister|sprecher|chef|kanzler|führer|leiter|direktor|botschafter|"
    r"diplomat|gesandte|machthaber|sekretär|general|könig|papst|meister|vorsitzende|kommissar|"
    r"president|spokesman|spokeswoman|spokesperson|secretary|leader|chancellor|ambassador|envoy|"
    r"herr|frau|mr|mrs|ms|dr|prof)(in|innen|en|s|r)?$")
_ARTICLES = {"der", "die", "das", "den", "dem", "des", "the", "ein", "eine", "laut", "mit", "am", "im",
             "auch", "als", "nach", "wie"}
# Capitalised words that follow names in news sentences ("Grant Shapps Anfang des Monats").
_NOT_NAME = {"anfang", "ende", "mitte", "montag", "dienstag", "mittwoch", "donnerstag", "freitag",
             "samstag", "sonntag", "woche", "jahr", "monat", "tag", "abend", "morgen", "vormittag",
             "nachmittag", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
             "sunday", "on", "in", "at", "last", "this", "earlier"}


def _candidates(kind: str, sentence: str, q_stems: set[str]) -> list[tuple[int, str]]:
    """(offset, phrase) of the phrases in `sentence` that could answer a `kind` question."""

    def novel(phrase: str) -> bool:
        stems = set(tokenize(phrase, "de")) | set(tokenize(phrase, "en"))
        return bool(stems) and not stems <= q_stems

    out = []
    if kind in _PATTERNS:
        stop = stopwords("de") | stopwords("en")
        for m in _PATTERNS[kind].finditer(sentence):
            words = m.group(0).split()
            while len(words) > 1 and words[-1].lower() in stop:
                words.pop()
            out.append((m.start(), " ".join(words)))
    elif kind == "where":
        out = [(m.start(1), m.group(1)) for m in _PLACE.finditer(sentence)]
    elif kind == "who":
        for m in _NAME.finditer(sentence):
            words = m.group(0).split()
            offsets, pos = [], m.start()
            for w in words:
                offsets.append(sentence.index(w, pos))
                pos = offsets[-1] + len(w)
            # Dates and articles inside a capitalised run separate names ("Am Dienstag Dmitri
            # Peskow", "Grant Shapps Anfang des Monats").
            segment: list[int] = []
            for i in range(len(words) + 1):
                if i < len(words) and words[i].lower() not in _NOT_NAME | _ARTICLES:
                    segment.append(i)
                    continue
                found = _name_in(segment, words, q_stems)
                if found:
                    out.append((offsets[found[0]], " ".join(words[j] for j in found)))
                segment = []
    return [(o, p) for o, p in out if novel(p)]


def _name_in(segment: list[int], words: list[str], q_stems: set[str]) -> list[int]:
    """Indices of the person's name in a run of capitalised words, or [].

    German capitalises every noun: the name is what follows the last job title, minus words the
    question used, so "Kreml-Sprecher Dmitri Peskow" and "Russlands Außenminister Lawrow" give
    "Dmitri Peskow" and "Lawrow"."""
    roles = [k for k, i in enumerate(segment) if _ROLE.match(words[i])]
    rest = segment[roles[-1] + 1:] if roles else segment
    while rest and all(set(tokenize(part, "de")) <= q_stems for part in words[rest[0]].split("-")):
        rest = rest[1:]
    # A person the question names is not who it asks for ("Wer hat Lawrow empfangen?").
    if any(set(tokenize(words[i], "de")) & q_stems for i in rest):
        return []
    return rest if len(rest) >= 2 or (rest and roles) else []


def short_answer(question: str, sentence: str, q_vec: np.ndarray | None = None, embed=None) -> str:
    """The phrase in `sentence` that answers a who/when/where/how-many question, or ''.

    With several candidates, each is judged by the words just before it ("Kremlsprecher Dmitri
    Peskow" vs "Präsident Wladimir Putin"), embedded and compared with the question; that works
    across languages, where shared words do not."""
    kind = question_type(question)
    if not kind:
        return ""
    q_stems = set(tokenize(question, "de")) | set(tokenize(question, "en"))
    found = _candidates(kind, sentence, q_stems)
    if not found:
        return ""
    if len(found) == 1 or embed is None or q_vec is None:
        return found[0][1]
    contexts = []
    for offset, phrase in found:
        before = sentence[:offset].split()[-3:]
        contexts.append(" ".join(before + [phrase]))
    sims = embed(contexts) @ q_vec
    return found[int(np.argmax(sims))][1]


def answer(question: str, lang: str, passages: list[Passage], q_vec: np.ndarray, embed_passages,
           min_relevance: float, min_sentence_relevance: float = 0.0,
           max_quotes: int = 2) -> tuple[str, list[Citation], bool]:
    """(text, citations, abstained). `embed_passages` embeds candidate sentences.

    Abstains when the best passage is not similar enough to the question, or when no single
    sentence is: a topical article that does not contain the answer passes the first test but
    rarely the second."""
    ph = PHRASES.get(lang, PHRASES["en"])
    best_relevance = max((p.dense_score or 0.0 for p in passages), default=0.0)
    if not passages or best_relevance < min_relevance:
        return ph["abstain"], [], True
    cands = candidates(passages)
    if not cands:
        return ph["abstain"], [], True
    score(question, lang, cands, q_vec, embed_passages([c.text for c in cands]))
    ranked = sorted(cands, key=lambda c: -c.score)
    if ranked[0].score < min_sentence_relevance:
        return ph["abstain"], [], True
    chosen = [ranked[0]]
    short = short_answer(question, chosen[0].text, q_vec, embed_passages)
    for c in ranked[1:]:
        if len(chosen) >= max_quotes:
            break
        # A second quote must come from another article and either score nearly as well or
        # confirm the short answer; near-repeats of the first quote add nothing.
        close = c.score >= ranked[0].score - 0.015
        confirms = bool(short) and short in c.text and c.score >= ranked[0].score - 0.08
        if (close or confirms) and all(c.passage.source != x.passage.source for x in chosen) \
                and all(word_overlap(c.text, x.text) < 0.6 for x in chosen):
            chosen.append(c)

    citations, parts = [], []
    by_source: dict[str, int] = {}
    for c in chosen:
        n = by_source.setdefault(c.passage.source, len(by_source) + 1)
        citations.append(citation_for(n, c))
        lead = ph["according"] if not parts else ph["also"]
        parts.append(f"{lead.format(n=n)}: {ph['quote'].format(q=c.text)}")
    return lead_with(short, " ".join(parts)), citations, False
