"""Answer quality: gold sets over news articles (JSONL, see docs/eval.md) and XQuAD answer spans,
for every answering mode that is available."""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import metrics
from .common import progress_bar
from .data import GoldItem, XQuestion, source_matches


@dataclass
class AnswerRecord:
    id: str
    lang: str
    question: str
    category: str                 # single | multi-article | follow-up | unanswerable | xquad
    answerable: bool
    gold_answers: list[str]
    gold_sources: list[str]
    answer: str = ""
    mode: str = ""
    abstained: bool = False
    cited: list[str] = field(default_factory=list)
    contains: bool | None = None          # answerable items only
    # The same without the word-for-word English after German quotes (metrics.without_word_for_word)
    contains_without_glosses: bool | None = None
    f1: float | None = None
    answer_lang: str | None = None
    lang_ok: bool = False
    citation_precision: float | None = None
    citation_recall: float | None = None
    latency_ms: float = 0.0
    error: str = ""
    notice: str = ""                      # why an LLM answer was replaced by the extractive one

    def to_dict(self) -> dict:
        return asdict(self)


def category(item: GoldItem) -> str:
    if not item.answerable:
        return "unanswerable"
    if item.follow_up_of:
        return "follow-up"
    if item.sources_needed == "all" and len(item.sources) > 1:
        return "multi-article"
    return "single"


def answer_language(text: str) -> str | None:
    """The language of the assistant's own words (quotes are the articles' German), or None when
    too little is left to tell."""
    from .. import language

    own = metrics.own_words(text)
    if sum(ch.isalpha() for ch in own) < 4:
        return None
    return language.detect(own)


def score(record: AnswerRecord, answer, doc_of, need_all: bool = False) -> AnswerRecord:
    """Fill in the metrics of one record from the Answer the assistant gave."""
    record.answer = answer.text
    record.mode = answer.mode
    record.notice = answer.notice
    record.abstained = bool(answer.abstained)
    record.cited = [doc_of(c.source) for c in answer.citations]
    record.answer_lang = answer_language(answer.text)
    record.lang_ok = record.answer_lang == record.lang
    if record.answerable:
        record.contains = (not record.abstained) and metrics.contains_answer(answer.text, record.gold_answers)
        record.contains_without_glosses = (not record.abstained) and metrics.contains_answer(
            metrics.without_word_for_word(answer.text), record.gold_answers)
        record.f1 = 0.0 if record.abstained else metrics.token_f1(
            metrics.first_sentence(answer.text), record.gold_answers, record.lang)
        match = lambda c, g: source_matches(c, g)
        record.citation_precision = metrics.citation_precision(record.cited, record.gold_sources, match)
        record.citation_recall = metrics.citation_recall(record.cited, record.gold_sources, need_all, match)
    return record


def run_gold(bot, items: list[GoldItem], desc: str = "gold", root: Path | None = None) -> list[AnswerRecord]:
    """Ask every gold question; a follow-up is asked with the conversation so far (the first
    question and the assistant's own answer to it), as the chat UI does."""
    from ..results import RagError

    def doc_of(source: str) -> str:
        p = Path(source)
        if root is not None:
            try:
                return p.resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                pass
        return p.name

    given: dict[str, tuple[str, str]] = {}
    records = []
    bar = progress_bar(len(items), desc)
    try:
        for item in items:
            rec = AnswerRecord(item.id, item.lang, item.question, category(item), item.answerable,
                               item.answers, item.sources)
            history = None
            if item.follow_up_of:
                history = [given[item.follow_up_of]] if item.follow_up_of in given else []
            t0 = time.perf_counter()
            try:
                answer = bot.ask(item.question, history=history)
            except RagError as e:
                rec.error = str(e)
                records.append(rec)
                bar.update(1)
                continue
            rec.latency_ms = (time.perf_counter() - t0) * 1000
            score(rec, answer, doc_of, need_all=item.sources_needed == "all")
            given[item.id] = (item.question, answer.text)
            records.append(rec)
            bar.update(1)
    finally:
        bar.close()
    return records


def run_xquad(bot, questions: list[XQuestion], desc: str = "xquad", answerable: bool = True) -> list[AnswerRecord]:
    """XQuAD questions; with answerable=False they are asked of a store that lacks their paragraph
    (category "unanswerable")."""
    from .retrieval_eval import doc_id

    records = []
    bar = progress_bar(len(questions), desc)
    try:
        for q in questions:
            rec = AnswerRecord(q.id, q.lang, q.question, "xquad" if answerable else "unanswerable",
                               answerable, list(q.answers) if answerable else [],
                               [q.paragraph_id] if answerable else [])
            t0 = time.perf_counter()
            answer = bot.ask(q.question)
            rec.latency_ms = (time.perf_counter() - t0) * 1000
            score(rec, answer, doc_id)
            records.append(rec)
            bar.update(1)
    finally:
        bar.close()
    return records


def span_ceiling(questions: list[XQuestion], german: dict[str, XQuestion], glossary=None) -> dict:
    """What a reader that quotes from the German articles could score at best: each question's
    German gold answer span, shaped as the reader shapes a short answer for the question's language
    (rag/render.py, with the reader's `glossary`), scored against the question's own gold answers.
    For English questions this is far below 100: no translation model runs here, and a word-by-word
    gloss is not the English text's wording ("der kleinste Unterkörper": "the smallest subfield")."""
    from ..render import short_answer

    spans = [(q, short_answer(german[q.id].answers[0], q.lang, glossary, shown=True))
             for q in questions if german[q.id].answers]
    return {"n": len(spans),
            "contains": metrics.mean([float(metrics.contains_answer(s, list(q.answers))) for q, s in spans]),
            "f1": metrics.mean([metrics.token_f1(s, list(q.answers), q.lang) for q, s in spans])}


def words_left_german(texts: list[str], glossary) -> dict:
    """What the word-for-word English after a quote (rag/render.py `sentence_in_english`) leaves
    as the article writes it: of the lower-case words of every sentence of `texts` (capitalised
    ones are mostly names, which stay by design), those still there in its English and no common
    English word ("traf" before verbs were glossed from the dictionary's conjugations). A measure
    of the gloss, not of answers; None without the dictionary."""
    from ..glossary import common_english
    from ..render import sentence_in_english
    from ..text import split_sentences

    if glossary is None:
        return {"words": 0, "left": None}
    word = re.compile(r"[^\W\d_]+")
    words = left = 0
    for sentence in (s.text for t in texts for s in split_sentences(t)):
        lower = [w for w in word.findall(sentence) if w.islower()]
        german = set(lower)
        words += len(lower)
        left += sum(w in german and not common_english(w)
                    for w in word.findall(sentence_in_english(sentence, glossary)))
    return {"words": words, "left": left / words if words else None}


def summarize(records: list[AnswerRecord]) -> dict:
    ok = [r for r in records if not r.error]
    answerable = [r for r in ok if r.answerable]
    abst = metrics.abstention_scores([not r.answerable for r in ok], [r.abstained for r in ok])
    return {
        "n": len(records),
        "errors": len(records) - len(ok),
        "answerable": len(answerable),
        "contains": metrics.mean([float(bool(r.contains)) for r in answerable]),
        "contains_without_glosses": metrics.mean([float(bool(r.contains_without_glosses)) for r in answerable]),
        "f1": metrics.mean([r.f1 for r in answerable]),
        "citation_precision": metrics.mean([r.citation_precision for r in ok
                                            if r.answerable and not r.abstained]),
        "citation_recall": metrics.mean([r.citation_recall for r in answerable]),
        "language_match": metrics.mean([float(r.lang_ok) for r in ok]),
        # In LLM mode an answer that fails verification is replaced by the extractive one; without
        # this share an LLM run that fell back every time would look like a working LLM.
        "generated": metrics.mean([float(r.mode.startswith("llm")) for r in ok]),
        "language_undetermined": sum(1 for r in ok if r.answer_lang is None),
        "abstention": abst,
        "false_abstention_rate": metrics.mean([float(r.abstained) for r in answerable]),
        "latency": metrics.latency_summary([r.latency_ms for r in ok]),
    }


def breakdown(records: list[AnswerRecord], key: str) -> dict:
    groups: dict[str, list[AnswerRecord]] = {}
    for r in records:
        groups.setdefault(str(getattr(r, key)), []).append(r)
    return {name: summarize(rs) for name, rs in sorted(groups.items())}
