"""Answers without an LLM: the sentences that answer the question, quoted verbatim with [n]
markers and framed in the question's language; a short answer first for factoid questions."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .chunking import split_sentences
from .cleaning import to_source
from .lexical import tokenize
from .results import Citation, Passage

PHRASES = {
    "de": {
        "according": "Laut [{n}]",
        "also": "Außerdem laut [{n}]",
        "abstain": "Dazu steht nichts in den Artikeln, die mir vorliegen.",
        "abstain_closest": "Am nächsten kommt {title} [{n}], beantwortet die Frage aber nicht.",
        "quote": "„{q}“",
    },
    "en": {
        "according": "According to [{n}]",
        "also": "Also, according to [{n}]",
        "abstain": "The articles I have don't say.",
        "abstain_closest": "The closest is {title} [{n}], but it does not answer the question.",
        "quote": "\u201c{q}\u201d",
    },
}


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
    out = []
    for i, p in enumerate(passages[:max_passages]):
        for s in split_sentences(p.text):
            # Headlines, captions and fragments rarely answer anything on their own.
            if len(s.text) >= 25 and len(s.text.split()) >= 4:
                out.append(Candidate(i, p, s.start, s.end, s.text))
    return out


def score(question: str, lang: str, cands: list[Candidate], q_vec: np.ndarray,
          s_vecs: np.ndarray) -> None:
    """Semantic similarity to the question, plus shared content words, plus a little for the
    passage's retrieval rank."""
    q_terms = set(tokenize(question, "de")) | set(tokenize(question, "en"))
    sims = s_vecs @ q_vec if len(cands) else np.zeros(0)
    for c, sim in zip(cands, sims):
        terms = set(tokenize(c.text, "de")) | set(tokenize(c.text, "en"))
        overlap = len(q_terms & terms) / max(1, len(q_terms))
        c.score = float(sim) + 0.08 * overlap - 0.01 * c.passage_index


def citation_for(n: int, c: Candidate) -> Citation:
    p = c.passage
    start = to_source(p.segments, p.start + c.start)
    end = to_source(p.segments, p.start + c.end)
    return Citation(n=n, source=p.source, title=p.title, outlet=p.outlet, quote=c.text, start=start,
                    end=end, chunk_id=p.chunk_id, date=p.date, url=p.url)


# --- short answers for factoid questions ------------------------------------------------------
_QTYPES = [
    ("count", r"\b(wie viele|wieviele|wie viel|how many|how much)\b"),
    ("when", r"\b(wann|seit wann|in welchem jahr|when|what year|which year|what day)\b"),
    ("where", r"\b(wo|wohin|woher|in welche[rm]? (stadt|land|ort)|where|in which (city|country))\b"),
    ("who", r"\b(wer|wen|wem|wessen|wie hei(ß|ss)t|who|whom|whose|what is the name)\b"),
]
_NUMBER_WORDS = r"(?:ein|eine|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|zwanzig|hundert|tausend|one|two|three|four|five|six|seven|eight|nine|ten|dozen|hundred|thousand)"
_MONTHS = r"(?:Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember|January|February|March|May|June|July|October|December)"
_DAYS = r"(?:Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_PATTERNS = {
    "count": re.compile(rf"\b(?:\d[\d.,]*|{_NUMBER_WORDS})(?:\s(?:Millionen|Milliarden|Million|Billion|Mio\.|Mrd\.|Prozent|percent|%))?(?:\s[A-ZÄÖÜa-zäöüß][\w-]+)?", re.I),
    "when": re.compile(rf"\b(?:(?:am |im |on |in )?(?:\d{{1,2}}\.\s?)?{_MONTHS}(?:\s\d{{4}})?|(?:am |on )?{_DAYS}|(?:im Jahr |in )?(?:19|20)\d\d|(?:letzte[nr]?|vergangene[nr]?|last|next) (?:Woche|Monat|Jahr|Jahres|week|month|year))\b"),
}
_CAP = r"[A-ZÄÖÜŎŌ][\w'’ŏō-]+"
_NAME = re.compile(rf"{_CAP}(?:\s(?:{_CAP}|von|van|de|bin|al)){{1,3}}")
_PLACE = re.compile(rf"\b(?:in|nach|aus|im|at|to|from)\s(?:der\s|dem\s|the\s)?(?:\w+stadt\s|Hauptstadt\s|city of\s)?({_CAP}(?:\s{_CAP})?)")


def question_type(question: str) -> str:
    q = question.lower()
    for name, pattern in _QTYPES:
        if re.search(pattern, q):
            return name
    return ""


def short_answer(question: str, sentence: str) -> str:
    """The phrase in `sentence` that answers a who/when/where/how-many question, or ''."""
    kind = question_type(question)
    if not kind:
        return ""
    q_stems = set(tokenize(question, "de")) | set(tokenize(question, "en"))

    def novel(phrase: str) -> bool:
        words = re.findall(r"\w+", phrase)
        stems = set(tokenize(phrase, "de")) | set(tokenize(phrase, "en"))
        return bool(words) and not stems <= q_stems

    if kind in _PATTERNS:
        for m in _PATTERNS[kind].finditer(sentence):
            if novel(m.group(0)):
                return m.group(0).strip()
        return ""
    if kind == "where":
        for m in _PLACE.finditer(sentence):
            if novel(m.group(1)):
                return m.group(1)
        return ""
    for m in _NAME.finditer(sentence):
        # German capitalises every noun: keep only the words the question did not use and drop
        # a leading article, so "Der Kreml-Sprecher Dmitri Peskow" becomes "Dmitri Peskow".
        words = m.group(0).split()
        while words and (set(tokenize(words[0], "de")) <= q_stems or words[0].lower() in
                         {"der", "die", "das", "den", "dem", "des", "the", "ein", "eine", "laut"}
                         or all(set(tokenize(part, "de")) <= q_stems for part in words[0].split("-"))):
            words.pop(0)
        if len(words) >= 2:
            return " ".join(words)
    return ""


def answer(question: str, lang: str, passages: list[Passage], q_vec: np.ndarray, embed_passages,
           min_relevance: float, max_quotes: int = 2) -> tuple[str, list[Citation], bool]:
    """(text, citations, abstained). `embed_passages` embeds candidate sentences."""
    ph = PHRASES.get(lang, PHRASES["en"])
    best_relevance = max((p.dense_score or 0.0 for p in passages), default=0.0)
    if not passages or best_relevance < min_relevance:
        return ph["abstain"], [], True
    cands = candidates(passages)
    if not cands:
        return ph["abstain"], [], True
    score(question, lang, cands, q_vec, embed_passages([c.text for c in cands]))
    ranked = sorted(cands, key=lambda c: -c.score)
    chosen = [ranked[0]]
    for c in ranked[1:]:
        if len(chosen) >= max_quotes or c.score < ranked[0].score - 0.02:
            break
        # A second quote must add a different article, not repeat the first.
        if all(c.passage.source != x.passage.source for x in chosen) and \
                all(_similar(c.text, x.text) < 0.6 for x in chosen):
            chosen.append(c)

    citations, parts = [], []
    by_source: dict[str, int] = {}
    for c in chosen:
        n = by_source.setdefault(c.passage.source, len(by_source) + 1)
        citations.append(citation_for(n, c))
        lead = ph["according"] if not parts else ph["also"]
        parts.append(f"{lead.format(n=n)}: {ph['quote'].format(q=c.text)}")
    short = short_answer(question, chosen[0].text)
    text = " ".join(parts)
    if short:
        text = f"{short}. {text}"
    return text, citations, False


def _similar(a: str, b: str) -> float:
    ta, tb = set(a.lower().split()), set(b.lower().split())
    return len(ta & tb) / max(1, min(len(ta), len(tb)))
