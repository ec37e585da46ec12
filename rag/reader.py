"""The learned reader: answers without an LLM.

Small models trained on the XQuAD dev articles by `python -m rag train-reader`
(rag/reader_train.py) and committed under rag/data/reader/:

1. sentence model (boosted trees): which sentence of the retrieved passages answers the question;
2. span head (rag/span_head.py): start and end scores per token, from e5 reading the question and
   a sentence together;
3. span ranker (LambdaRank trees): which phrase of the best sentences is the short answer (the
   head's scores, kind of phrase vs kind of question, closeness to the question's words, not a
   repeat of the question, ...);
4. answerability model (boosted trees): do the passages answer the question at all; below the
   threshold chosen on the dev split the reader says the articles do not say, and shows the
   closest passages.

The answer is the short answer first (for who/when/where/which/how-many questions, rendered in
English for English questions), then the evidence sentence quoted verbatim with [n]."""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import lang as langs, language, model_export, span_head
from .boosted_trees import TreeEnsemble
from .checkable import agreement, months, names, numbers
from .embedding import choose_backend, exported_infer
from .glossary import without_placeholders
from .lexical import tokenize
from .reader_features import (SENTENCE_FEATURES, Features, before_final_negation, describes_name, featurize,
                              names_nothing, repeats_question, span_features, span_fits)
from .render import lead_with, short_answer, word_for_word, word_for_word_note
from .spans import date_only, whole_date, with_unit
from .results import Citation, Passage
from .settings import Settings
from .text import word_overlap

MODEL_DIR = Path(__file__).parent / "data" / "reader"
LANGUAGE_GROUPS = ("same_language", "cross_language")
ANSWERABLE_FEATURES = (["sentence_p", "sentence_p2", "span_p", "span_margin", "best_dense", "best_cos",
                        "overlap_stem", "overlap_fold", "cross_language", "n_sentences", "kind_in_sentence",
                        "head_raw", "q_checkable", "q_missing_share", "q_numbers_missing",
                        "q_weight_missing_max", "q_weight_missing_passage", "q_weight_missing_sentence",
                        "best_gloss_cos"]
                       + [f"kind_{k}" for k in langs.KINDS])
# Span scores this close count as a tie that an apposition breaks (`_apposition_on_a_tie`).
APPOSITION_TIE = 0.02


@dataclass
class ReaderModels:
    sentence: TreeEnsemble
    span: TreeEnsemble
    answerable: TreeEnsemble
    # Abstain below this answerability, by whether the question's language is the articles'
    # ("same_language") or not ("cross_language"): English questions score lower on answerable
    # and unanswerable questions alike, so train-reader chooses each on its own dev questions.
    answerable_threshold: dict[str, float]
    span_threshold: float
    second_quote_ratio: float
    head: span_head.SpanHead
    kind_rule: frozenset[str]   # kinds answered only by spans of that kind (chosen on dev by train-reader)


_lock = threading.Lock()
_models: dict[str, ReaderModels] = {}


def load(folder: Path = MODEL_DIR) -> ReaderModels:
    """The committed models (loaded once per process)."""
    key = str(folder)
    with _lock:
        if key not in _models:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            _models[key] = ReaderModels(
                TreeEnsemble.load(folder / "sentence.npz"), TreeEnsemble.load(folder / "span.npz"),
                TreeEnsemble.load(folder / "answerable.npz"), _thresholds(meta["answerable_threshold"]),
                float(meta["span_threshold"]), float(meta.get("second_quote_ratio", 0.5)),
                span_head.SpanHead.load(folder / "span_head.npz"), frozenset(meta.get("kind_rule", langs.FACTOID)))
        return _models[key]


def _thresholds(value) -> dict[str, float]:
    # One number (models trained before the split) stands for both groups.
    if isinstance(value, dict):
        return {k: float(value[k]) for k in LANGUAGE_GROUPS}
    return {k: float(value) for k in LANGUAGE_GROUPS}


def language_group(q_lang: str, corpus_language: str) -> str:
    return "same_language" if q_lang == corpus_language else "cross_language"


_encoder_lock = threading.Lock()
_encoders: dict[tuple, span_head.AdaptedEncoder] = {}


def span_encoder(model_path: str, folder: Path = MODEL_DIR, settings: Settings | None = None,
                 progress=None) -> span_head.AdaptedEncoder:
    """e5 with the committed span head's updates, built once per process and engine. It runs on
    the engine the embedding backend setting chooses: OpenVINO or ONNX Runtime on a copy
    converted once into the model cache (model_export, keyed by the head file's content), torch
    without settings or when the backend is torch."""
    models = load(folder)
    choice = choose_backend(settings) if settings is not None else None
    backend = choice.backend if choice is not None and choice.device == "cpu" else "torch"
    key = (str(folder), model_path, backend)
    with _encoder_lock:
        if key not in _encoders:
            infer = None
            if backend != "torch":
                converted = model_export.ensure(model_path, settings, backend, progress,
                                                adapters=folder / "span_head.npz")
                infer = exported_infer(converted, choice)
            _encoders[key] = span_head.AdaptedEncoder(model_path, models.head, infer)
        return _encoders[key]


class SentenceVectors:
    """Embeddings of candidate sentences, remembered (least recently used first out): the same
    passages come back for related questions, and embedding them is most of the reader's time."""

    def __init__(self, embed, max_items: int = 20_000):
        self.embed, self.max_items = embed, max_items
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        fresh = dict(zip(missing, self.embed(missing))) if missing else {}
        with self._lock:
            self._vectors.update(fresh)
            found = {t: fresh.get(t, self._vectors.get(t)) for t in texts}
            for t in texts:
                if t in self._vectors:
                    self._vectors.move_to_end(t)
            while len(self._vectors) > self.max_items:
                self._vectors.popitem(last=False)
        # Another thread may have pushed one out in between: embed it again rather than fail.
        lost = [t for t, v in found.items() if v is None]
        found.update(zip(lost, self.embed(lost)) if lost else {})
        return np.stack([found[t] for t in texts])


@dataclass
class Reading:
    """What the models made of one question: the basis of the answer and of training."""
    features: Features
    sentence_p: np.ndarray
    span_p: np.ndarray
    answerable_x: np.ndarray
    answerable_p: float = 1.0
    group: str = "same_language"     # language_group of the question


_COL = {name: i for i, name in enumerate(SENTENCE_FEATURES)}


def answerable_row(f: Features, sentence_p: np.ndarray, span_p: np.ndarray) -> np.ndarray:
    col, x = _COL, f.sentence_x
    if len(sentence_p) == 0:
        return np.zeros(len(ANSWERABLE_FEATURES), dtype=np.float32)
    top = int(np.argmax(sentence_p))
    ps = np.sort(sentence_p)[::-1]
    sp = np.sort(span_p)[::-1] if len(span_p) else np.zeros(2)
    row = [ps[0], ps[1] if len(ps) > 1 else 0.0, sp[0], sp[0] - (sp[1] if len(sp) > 1 else 0.0),
           float(x[:, col["p_dense"]].max()), float(x[:, col["cos"]].max()), float(x[top, col["overlap_stem"]]),
           float(x[top, col["overlap_fold"]]), float(x[top, col["cross_language"]]), float(len(sentence_p)),
           float(x[top, col["kind_in_sentence"]]),
           # The span head's raw score of the best phrase: how sure the encoder is that an
           # answer is there at all.
           float(f.span_raw[int(np.argmax(span_p))]) if len(span_p) else -50.0,
           *question_tokens_missing(f.question, f.sentences[top].passage.text),
           *question_weight_missing(f.term_weights, f.sentences[top].passage.text, f.sentences[top].text,
                                    f.corpus_language, f.term_groups),
           float(x[:, col["gloss_cos"]].max())]
    row += [float(f.kind == k) for k in langs.KINDS]
    return np.array(row, dtype=np.float32)


def question_tokens_missing(question: str, passage: str) -> list[float]:
    """(how many names, numbers and months the question names, the share of them the best
    sentence's passage lacks, how many of its numbers it lacks), compared as the claim check
    compares them (transliteration-insensitive): a near-topic passage that does not answer
    often lacks the year or the name the question asks about."""
    q_numbers = numbers(question)
    checkable = len(set(names(question))) + len(q_numbers) + len(months(question))
    missing = agreement(question, passage).missing
    return [float(checkable), len(missing) / checkable if checkable else -1.0,
            float(sum(m in q_numbers for m in missing))]


def question_weight_missing(weights: dict[str, float], passage: str, sentence: str,
                            lang: str = "de", groups: dict[str, tuple[str, ...]] | None = None) -> list[float]:
    """(the largest weight of a question term the best sentence's passage lacks, the share of the
    question's weight it lacks, the share the sentence itself lacks), `weights` being the terms'
    rarity in the articles (BM25 weight relative to an unseen term's, so that five articles and
    thousands give the same scale): a near-topic passage that does not answer lacks the
    question's rarest word ("Einwohner", "Klimawandel"). Out of fold on the dev articles (two
    retrains on one cache, with and without) abstention recall rose from 49.8 % to 55.3 % (German
    questions 60.9 -> 67.3 %, English 38.6 -> 43.3 %) at the same 4.9 % wrongly declined.
    `groups` (Features.term_groups): the stems any of which holds a term, for an English
    question's words their German words (49.0 -> 53.9 % English recall, rag/reader_features.py
    question_terms); a term without a group is its own stem."""
    total = sum(weights.values())
    if not total:
        return [0.0, 0.0, 0.0]
    in_passage, in_sentence = set(tokenize(passage, lang)), set(tokenize(sentence, lang))
    held = lambda term, stems: any(s in stems for s in (groups or {}).get(term, (term,)))
    lacking = [w for t, w in weights.items() if not held(t, in_passage)]
    return [max(lacking, default=0.0), sum(lacking) / total,
            sum(w for t, w in weights.items() if not held(t, in_sentence)) / total]


def read(models: ReaderModels, question: str, q_lang: str, passages: list[Passage], q_vec: np.ndarray,
         embed_sentences, token_states, corpus_language: str = "de", kind: str | None = None,
         term_weight=None, glossary=None) -> Reading:
    """`embed_sentences` embeds passages' sentences (SentenceVectors), `token_states` is
    the span head's AdaptedEncoder.token_states (it reads question and sentence encoded together),
    `term_weight(term)` a term's rarity in the articles (the lexical index's `rarity`), `glossary`
    the German-English dictionary (rag/glossary.py) an English question's words are matched by."""
    f = featurize(question, q_lang, passages, q_vec, embed_sentences, corpus_language, kind, term_weight, glossary)
    sentence_p = models.sentence.proba(f.sentence_x) if len(f.sentences) else np.zeros(0)
    span_features(f, sentence_p, f.kind, head_scorer(models.head, token_states))
    span_p = models.span.proba(f.span_x) if len(f.spans) else np.zeros(0)
    row = answerable_row(f, sentence_p, span_p)
    reading = Reading(f, sentence_p, span_p, row, group=language_group(q_lang, corpus_language))
    if len(sentence_p):
        reading.answerable_p = float(models.answerable.proba(row[None, :])[0])
    else:
        reading.answerable_p = 0.0
    return reading


def head_scorer(head: span_head.SpanHead, token_states):
    return lambda question, sentences: span_head.score(head, token_states, question, sentences)


def answer(question: str, lang: str, passages: list[Passage], q_vec: np.ndarray, embed_sentences,
           token_states, kind: str | None = None, q_lang: str | None = None, corpus_language: str = "de",
           models: ReaderModels | None = None, term_weight=None, glossary=None) -> tuple[str, list[Citation], bool]:
    """(text, citations, abstained) for `question` over the retrieved `passages`, in `lang`
    (`q_lang`, the question's own language, defaults to it); `glossary` (rag/glossary.py) glosses
    an English short answer's German words."""
    models = models or load()
    ph = langs.rules(lang).PHRASES
    if not passages:
        return ph["abstain"], [], True
    r = read(models, question, q_lang or lang, passages, q_vec, embed_sentences, token_states,
             corpus_language, kind, term_weight, glossary)
    if not len(r.sentence_p) or r.answerable_p < models.answerable_threshold[r.group]:
        return _abstain(r, lang, glossary)
    short, chosen = _choose(r, models)
    if not chosen:
        return _abstain(r, lang, glossary)
    return _compose(r, lang, short, chosen, glossary)


def _choose(r: Reading, models: ReaderModels) -> tuple[str, list[int]]:
    """The short answer (or '') and the sentences to quote, best first."""
    f = r.features
    # A sentence that gives orders to an assistant or reader is never quoted as the answer.
    order = [int(k) for k in np.argsort(-r.sentence_p) if not langs.is_instruction(f.sentences[k].text)]
    if not order:
        return "", []
    short, first = "", order[0]
    if len(r.span_p) and f.kind in langs.FACTOID:
        best = best_span(r, models.kind_rule)
        # A description of the person a "who is <name>?" question names is found by its place
        # in the sentence, where the ranker, never trained on such questions, is unsure.
        sure = r.span_p[best] >= models.span_threshold or _describes(f, best)
        if sure and not _not_a_name(f, best) and not _negated(f, best):
            short, first = _whole(f, f.spans[best]), f.spans[best].sentence
    chosen = [first]
    for k in order:
        if len(chosen) >= 2:
            break
        if k == first:
            continue
        # A second quote only when the reader rates it nearly as likely to hold the answer.
        if r.sentence_p[k] >= models.second_quote_ratio * r.sentence_p[first] and \
                word_overlap(f.sentences[k].text, f.sentences[first].text) < 0.6:
            chosen.append(k)
    return short, chosen


def _not_a_name(f: Features, best: int) -> bool:
    """Does a who/where question get a phrase that names no one and nowhere ("persönlich" for
    "Wo trafen sich Putin und Kim?", whose sentence has no place)? Then the quotes answer alone:
    a short answer of the wrong kind is the error users notice most. (The kind rule, which would
    pick a name instead, costs more on dev than it gains for who and where; this one, out of fold
    on the XQuAD dev questions: German short-answer F1 36.9 -> 37.0, nothing else moved.)"""
    c = f.spans[best]
    return f.kind in ("who", "where") and names_nothing(f.sentences[c.sentence], c)


def _negated(f: Features, best: int) -> bool:
    """Does a negation that ends the clause follow the phrase ("verriet er jedoch" before "nicht.",
    for "Welche Themen standen auf der Tagesordnung?")? Then the quotes answer alone: the phrase
    alone says the opposite. Out of fold on the XQuAD dev questions it held for none of the
    ranker's 1,149 phrases. Any negation next to the phrase was too wide: "2000" in "seit 2000
    nicht mehr besucht" answers "Seit wann hat Putin Pjöngjang nicht mehr besucht?"."""
    c = f.spans[best]
    return before_final_negation(f.sentences[c.sentence], c)


def best_span(r: Reading, rule_kinds: frozenset[str] | set[str], tie: float = APPOSITION_TIE) -> int:
    """The short answer's phrase: the ranker's best, of the asked kind where the kind rule is on
    (`rule_kinds`), never a name the question already names when there is anything else; on a
    near-tie (within `tie`) an apposition's name for who and where; for "who is <name>?" the
    best of the phrases that say what the articles call that person, where there are any."""
    span_p = _without_repeats(r.features, r.span_p)
    described = _descriptions(r.features)
    if described.any():
        return int(np.flatnonzero(described)[np.argmax(span_p[described])])
    if r.features.kind in rule_kinds:
        return best_of_kind(r, span_p)
    return _apposition_on_a_tie(r, span_p, int(np.argmax(span_p)), tie)


def _descriptions(f: Features) -> np.ndarray:
    """For a question who a named person is ("Wer ist Kim Jong-un?"), which phrases say what the
    articles call them ("Staatschef" before "Kim Jong-un"): the answer is one of them, not the
    ranker's best, which for such questions was often another name ("Sergei Lawrow"). None of
    the XQuAD questions asks this way, so the ranker never learned it; all False for other
    questions."""
    if not langs.asks_who_is(f.question):
        return np.zeros(len(f.spans), dtype=bool)
    return np.array([describes_name(f.sentences[c.sentence], c) for c in f.spans], dtype=bool)


def _describes(f: Features, k: int) -> bool:
    """`_descriptions(f)[k]`, for the one phrase chosen."""
    c = f.spans[k]
    return langs.asks_who_is(f.question) and describes_name(f.sentences[c.sentence], c)


def _apposition_on_a_tie(r: Reading, span_p: np.ndarray, best: int, tie: float) -> int:
    """For who and where without the kind rule: of the phrases scored within `tie` of the
    ranker's `best`, the best name set right after a word of the question ("Kremlsprecher
    Dmitri Peskow" for "Who is the spokesman of the Kremlin?"), else `best`. Such near-ties are
    common and fell with the CPU's rounding: the committed models scored "Putin und Choe" 0.7943
    and "Dmitri Peskow" 0.7940 on one machine, the other way round on another. Out of fold on
    the XQuAD dev questions the rule changed 2 of 1,149 short answers (one right, one wrong)
    and no F1 at margins 0.005 to 0.03; wider, English F1 fell (0.05: 36.0 -> 35.8).
    `python -m rag train-reader` logs the F1 with and without it."""
    near = span_p >= span_p[best] - tie
    if r.features.kind not in ("who", "where") or near.sum() < 2:
        return best         # no tie: the appositions need not be looked for
    near &= _appositions(r.features)
    return int(np.flatnonzero(near)[np.argmax(span_p[near])]) if near.any() else best


def _appositions(f: Features) -> np.ndarray:
    """Which spans are of the asked kind and follow a word the question matched: the noun the
    question asks about, then the name ("Küstenstadt Wŏnsan" for "In welcher Stadt ...?")."""
    return np.array([span_fits(f.kind, f.sentences[c.sentence], c) and c.i > 0
                     and bool(f.sentences[c.sentence].matched[c.i - 1]) for c in f.spans], dtype=bool)


def _without_repeats(f: Features, span_p: np.ndarray) -> np.ndarray:
    """The span scores with names the question already names ruled out, unless that is all there
    is. A rule on top of the ranker, which scores such repeats down but not out: on the XQuAD dev
    questions (600, dev store) it raised short-answer F1 a little in both languages (de 61.4 ->
    61.5, en 34.4 -> 34.6) and changed no contains-gold result."""
    repeats = np.array([repeats_question(f.sentences[c.sentence], c) for c in f.spans], dtype=bool)
    if not repeats.any() or repeats.all():
        return span_p
    return np.where(repeats, -1.0, span_p)


def _whole(f: Features, c) -> str:
    """The short answer's text, a date widened to the whole date, a number to its unit."""
    s = f.sentences[c.sentence]
    i, j = date_only(s.tokens, c.i, c.j) if f.kind == "when" else (c.i, c.j)
    i, j = with_unit(s.tokens, *whole_date(s.tokens, i, j))
    return s.text[s.tokens[i].start:s.tokens[j - 1].end]


def best_of_kind(r: Reading, span_p: np.ndarray) -> int:
    """The best span by `span_p` that is of the kind the question asks for (a name for "who", a
    date for "when", a number for "how many", a proper noun for "where"); the best span of any
    kind when there is none. The model scores kinds softly; an answer of the wrong kind
    ("Küstenstadt" for "Who received ...?") is the error users notice most."""
    f = r.features
    fits = np.array([span_fits(f.kind, f.sentences[c.sentence], c) for c in f.spans], dtype=bool)
    if not fits.any():
        return int(np.argmax(span_p))
    if f.kind in ("who", "where"):
        # Apposition: "Kremlsprecher Dmitri Peskow" for "Wer ist der Sprecher ...?".
        named = _appositions(f)
        if named.any():
            fits = named
    return int(np.flatnonzero(fits)[np.argmax(span_p[fits])])


def _compose(r: Reading, lang: str, short: str, chosen: list[int], glossary=None) -> tuple[str, list[Citation], bool]:
    ph = langs.rules(lang).PHRASES
    citations, parts = [], []
    by_source: dict[str, int] = {}
    for k in chosen:
        s = r.features.sentences[k]
        n = by_source.setdefault(s.passage.source, len(by_source) + 1)
        citations.append(s.passage.cite(n, s.start, s.end))
        lead = (ph["says"] if lang != "de" else ph["according"]) if not parts else ph["also"]
        parts.append(f"{lead.format(n=n)}: {ph['quote'].format(q=s.text)}{_word_for_word(s.text, lang, glossary)}")
    return lead_with(_short_for(short, lang, glossary) if short else "", " ".join(parts)), citations, False


def _word_for_word(quote: str, lang: str, glossary=None) -> str:
    """" (word for word: “...”)" after a German quote for an English reader, where a dictionary
    is installed: the quote's words glossed one by one, so a reader without German can follow it
    (a rough aid, marked as such; the German quote stays the evidence). Nothing when no word of
    the quote changes."""
    wanted = bool(langs.rules(lang).PHRASES["word_for_word"])   # not for a German reader
    note = word_for_word_note(word_for_word(quote, glossary) if wanted else "", lang)
    return f" {note}" if note else ""


def _short_for(short: str, lang: str, glossary=None) -> str:
    """The short answer as the reader sees it: dates and numbers in their language, German words
    glossed for an English reader where a dictionary is installed; a phrase that stays German is
    quoted as the article's words. A name is not German words but the same in any language, so it
    stands as written, unquoted ("Dmitri Peskow", not "“Dmitri Peskow”")."""
    out = short_answer(short, lang, glossary, shown=True)
    if lang == "de":
        return out
    if glossary is not None:
        # The dictionary's "sth" goes here, not in short_answer: the reader's glossed similarity
        # reads short_answer (not `shown`), and its models learned with the gloss as it was.
        out = without_placeholders(out)
    if not (glossary is not None and glossary.is_name(out)) and language.detect(out, default=lang) != lang:
        out = langs.rules(lang).PHRASES["quote"].format(q=out)
    return out


def _abstain(r: Reading, lang: str, glossary=None) -> tuple[str, list[Citation], bool]:
    """The articles do not say; the closest article is named (the answer's passages, which the UI
    shows, are the closest passages), its German title word for word for an English reader."""
    ph = langs.rules(lang).PHRASES
    if not len(r.sentence_p):
        return ph["abstain"], [], True
    p = r.features.sentences[int(np.argmax(r.sentence_p))].passage
    title = " ".join((p.title or Path(p.source).stem).split())[:120]
    closest = ph["abstain_closest"].format(title=title, gloss=_word_for_word(title, lang, glossary))
    return f"{ph['abstain']} {closest}", [], True
