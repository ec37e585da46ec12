"""`python -m rag train-reader`: train the reader's models on the XQuAD dev articles.

Deterministic, from ../shared/data/xquad only, a few minutes on two cores. The dev articles (even
article index, see rag/evaluation/data.py `xquad_split`) are ingested into a store of their own;
every dev question, German and English, is asked twice: against the full store (answerable) and
with its own paragraph filtered out (unanswerable: the rest of the same Wikipedia article is still
there, so these are near-topic). Labels come from XQuAD's German answer spans (English questions
share ids with the German ones, and the articles are German). Models are fitted with two-fold
cross-fitting by article, so the span and answerability models learn from sentence and head
scores that models trained without those questions produced; thresholds are chosen on
out-of-fold predictions. The span head (with its low-rank updates to e5) is trained on each
question's gold sentence, encoded with the question (about 1,200 sentences, German and English
questions); it takes most of the training time."""
from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import cloze, glossary, lang as langs, span_head
from .boosted_trees import average, from_lightgbm, from_sklearn
from .reader import (ANSWERABLE_FEATURES, APPOSITION_TIE, LANGUAGE_GROUPS, MODEL_DIR, Reading,
                     answerable_row, best_span, head_scorer, language_group)
from .reader_features import SENTENCE_FEATURES, SPAN_FEATURES, Features, featurize, span_features
from .results import RagError
from .settings import PROJECT_ROOT
from .text import split_sentences

log = logging.getLogger(__name__)
SPAN_POSITIVE_F1 = 0.5
CORPUS_LANGUAGE = "de"      # the dev store holds XQuAD's German paragraphs
# The span ranker and the answerability model are each the average of this many models, every
# one fitted on its own random share of the questions (bagging). One fit moved with a handful of
# questions: two dev stores built by the same code (17 of 2,448 questions retrieved other
# sentences: chunk ids hash the store's path and break BM25 ties) gave out-of-fold abstention
# recall 57.7 and 54.2 %. On three such stores, without and with bagging: abstention recall
# 57.7 / 54.2 / 54.5 -> 58.0 / 58.1 / 56.4 %, German short-answer F1 39.6 / 38.5 / 38.1 ->
# 40.6 / 38.5 / 39.5, English 32.1 / 32.2 / 31.9 -> 32.7 / 32.6 / 31.8 (the sentence model is
# not bagged: not measured).
BAG_ROUNDS = 5
BAG_SHARE = 0.8
# An answer of the asked kind is what the reader issue asks for, so a kind keeps the rule unless
# it costs more than this much F1 out of fold. Without a margin the choice flipped between
# retrains of the same code: "when" was on in the models of 52440ed and off in three of six fits
# in the checkout of 2026-11-27 (whose models answered "When was Lavrov in Wonsan?" with "coast
# town"), on a difference of 0.2 points (66.1 vs 66.2, 89 dev questions), while the rule costs
# "who" and "where" 18 and 19 points.
KIND_RULE_TOLERANCE = 0.01
# Cloze questions (rag/cloze.py, `--cloze N`) are made from the 10kGNAD articles from this one
# on: the first 240 host XQuAD paragraphs in `python -m rag eval`.
CLOZE_FIRST_ARTICLE = 240


@dataclass
class Example:
    qid: str
    lang: str
    article: int
    answerable: bool
    golds: list[str]           # German answers (the articles are German)
    features: Features
    sentence_y: np.ndarray
    oof_sentence_p: np.ndarray | None = None
    span_y: np.ndarray | None = None
    oof_span_p: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


def _gbm(seed: int = 0):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.08, max_leaf_nodes=31,
                                          min_samples_leaf=40, l2_regularization=1.0,
                                          early_stopping=False, random_state=seed)


def collect(xquad_dir: Path, work: Path, embedder, tokenizer, questions_per_lang: int | None,
            english_sentences: bool = False) -> list[Example]:
    """Retrieve and featurize every dev question, answerable and not; each answerable example
    also carries the span head's training items (extra["head"]: its gold sentence and answer in
    the German paragraph, and with `english_sentences` in the parallel English one too)."""
    from .evaluation import common, data, metrics

    xq = data.load_xquad(xquad_dir)
    dev = [p for p in xq.paragraphs if data.xquad_split(int(p.id[:2])) == "dev"]
    files = data.write_corpus(work / "corpus", data.xquad_docs(dev))
    bot = common.open_bot(work / "store", embedder)
    # English questions' words are matched to the German ones through it, as when answering.
    gloss = glossary.load(bot.settings.dictionary)
    if gloss is None:
        raise RagError(f"train-reader needs the German-English dictionary at {bot.settings.dictionary} "
                       "(`make dictionary` fetches it).")
    common.sync_corpus(bot, files, "train-reader: ingest dev articles")
    path_of = {Path(f).stem: str(Path(f).resolve()) for f in files}
    gold = {lang: {q.id: q for q in xq.questions[lang]} for lang in ("de", "en")}
    text_of = {"de": {p.id: p.text for p in dev}}
    if english_sentences:       # the English paragraphs are read only when the head learns from them
        dev_ids = set(text_of["de"])
        text_of["en"] = {p.id: p.en for p in data.load_parallel(xquad_dir) if p.id in dev_ids}
    cache = _VectorCache(work / "vectors.npz", embedder.name)

    examples = []
    for lang in ("de", "en"):
        qs = [q for q in xq.questions[lang] if q.paragraph_id[:2] in {p.id[:2] for p in dev}]
        qs = data.subset(qs, questions_per_lang)
        bar = common.progress_bar(len(qs), f"train-reader: {lang} questions")
        for q in qs:
            golds = list(gold["de"][q.id].answers)
            q_vec = cache.get("query: " + q.question, lambda t: embedder.queries([q.question])[0])
            for answerable in (True, False):
                where = None if answerable else {"source": {"$ne": path_of[q.paragraph_id]}}
                passages = bot.retriever.search(q.question, lang, bot.settings.top_k, where=where,
                                                query_vector=q_vec)
                f = featurize(q.question, lang, passages, q_vec, cache.passages(embedder),
                              term_weight=bot.store.lexical.rarity, glossary=gloss)
                y = np.array([answerable and metrics.contains_answer(s.text, golds) for s in f.sentences],
                             dtype=np.int8)
                e = Example(q.id, lang, int(q.paragraph_id[:2]), answerable, golds, f, y)
                if answerable:
                    e.extra["head"] = head_items(tokenizer, q, text_of, gold, english_sentences)
                examples.append(e)
            bar.update(1)
        bar.close()
        cache.save()
    return examples


def head_items(tokenizer, q, text_of: dict, gold: dict,
               english_sentences: bool = False) -> list[span_head.HeadExample]:
    """The span head's training items of one question: its gold sentence and answer in the German
    paragraph (what the reader reads) and, with `english_sentences`, in the parallel English one:
    translate-train data, the same questions read against English sentences, twice the items
    without leaving the dev articles. Not the default: out of fold on dev it raised short-answer
    F1 (38.1 -> 40.6 German, 31.9 -> 36.2 English questions) and abstention recall (54.5 -> 56.8
    %), but on the test articles the reader answered worse (README, "Quality and speed")."""
    sides = ("de", "en") if english_sentences else ("de",)
    items = (head_example(tokenizer, q.question, text_of[side][q.paragraph_id], gold[side][q.id])
             for side in sides)
    return [x for x in items if x is not None]


def head_example(tokenizer, question: str, paragraph: str, gold) -> span_head.HeadExample | None:
    """The gold sentence of a question, tokenized with it, and where the answer of `gold` (an
    XQuestion whose answer_starts point into `paragraph`) lies; None when the answer is not inside
    one sentence (the head learns spans within a sentence)."""
    if not gold.answer_starts or not gold.answers:
        return None
    a0 = gold.answer_starts[0]
    a1 = a0 + len(gold.answers[0])
    sentence = next((x for x in split_sentences(paragraph) if x.start <= a0 and a1 <= x.end), None)
    if sentence is None:
        return None
    return span_head.head_example(tokenizer, question, sentence.text, a0 - sentence.start, a1 - sentence.start)


def cloze_items(tokenizer, gnad: Path, n: int, gloss) -> list[span_head.HeadExample]:
    """The span head's items from `n` cloze questions (rag/cloze.py) on the 10kGNAD articles from
    CLOZE_FIRST_ARTICLE on."""
    from .evaluation import data

    if n <= 0:
        return []
    texts = (a.text for a in data.load_gnad(gnad)[CLOZE_FIRST_ARTICLE:])
    made = (span_head.head_example(tokenizer, q.question, q.sentence, q.start, q.end)
            for q in cloze.from_articles(texts, n, glossary=gloss))
    return [x for x in made if x is not None]


class _VectorCache:
    """Embeddings of questions and sentences kept between training runs (keyed by text and model),
    so retraining after a feature change does not embed everything again."""

    def __init__(self, path: Path, model: str):
        self.path, self.model, self.vectors = path, model, {}
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                if str(z["model"]) == model:
                    self.vectors = dict(zip(z["keys"].tolist(), z["vectors"]))

    def get(self, key: str, compute) -> np.ndarray:
        if key not in self.vectors:
            self.vectors[key] = compute(key)
        return self.vectors[key]

    def passages(self, embedder):
        def embed(texts: list[str]) -> np.ndarray:
            new = [t for t in dict.fromkeys(texts) if "passage: " + t not in self.vectors]
            for t, v in zip(new, embedder.passages(new) if new else []):
                self.vectors["passage: " + t] = v
            return np.stack([self.vectors["passage: " + t] for t in texts])
        return embed

    def save(self) -> None:
        keys = list(self.vectors)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(self.path, model=np.array(self.model), keys=np.array(keys),
                 vectors=np.stack([self.vectors[k] for k in keys]))


def _folds(examples: list[Example]) -> list[np.ndarray]:
    articles = sorted({e.article for e in examples})
    fold_of = {a: i % 2 for i, a in enumerate(articles)}
    return [np.array([fold_of[e.article] == k for e in examples]) for k in (0, 1)]


def _fit(rows: list[np.ndarray], ys: list[np.ndarray]):
    x, y = np.concatenate(rows), np.concatenate(ys)
    if y.min() == y.max():
        raise ValueError("training data has a single class")
    return from_sklearn(_gbm().fit(x, y))


def _fit_ranker(rows: list[np.ndarray], ys: list[np.ndarray]):
    """Spans are ranked within their question (LambdaRank): what matters is which phrase comes
    first, not a calibrated probability for each of a few hundred phrases (out-of-fold on dev,
    while this was built, ranking gave a higher short-answer F1 than per-phrase classification)."""
    import lightgbm

    model = lightgbm.LGBMRanker(objective="lambdarank", n_estimators=300, learning_rate=0.05, num_leaves=31,
                                min_child_samples=40, reg_lambda=1.0, lambdarank_truncation_level=10,
                                label_gain=list(range(8)), n_jobs=1, deterministic=True,
                                force_row_wise=True, random_state=0, verbose=-1)
    model.fit(np.concatenate(rows), np.concatenate(ys), group=[len(r) for r in rows])
    return from_lightgbm(model.booster_)


def _cross_fit(examples, rows_of, y_of, set_oof, fit=_fit):
    """Out-of-fold predictions for every example, then a model fitted on all of them."""
    for held in _folds(examples):
        train = [e for e, h in zip(examples, held) if not h and len(rows_of(e))]
        model = fit([rows_of(e) for e in train], [y_of(e) for e in train])
        for e, h in zip(examples, held):
            if h:
                set_oof(e, model.proba(rows_of(e)) if len(rows_of(e)) else np.zeros(0))
    every = [e for e in examples if len(rows_of(e))]
    return fit([rows_of(e) for e in every], [y_of(e) for e in every])


def _bagged(fit):
    """`fit`, made the average of BAG_ROUNDS fits on random shares of the questions (rows and ys
    hold one question each); seeded by round, so training stays deterministic."""
    def fit_bagged(rows: list[np.ndarray], ys: list[np.ndarray]):
        models = []
        for seed in range(BAG_ROUNDS):
            keep = np.random.RandomState(seed).rand(len(rows)) < BAG_SHARE
            models.append(fit([r for r, k in zip(rows, keep) if k], [y for y, k in zip(ys, keep) if k]))
        return average(models)
    return fit_bagged


def _span_labels(e: Example) -> np.ndarray:
    """Graded relevance for the ranker: the best-matching phrases (token F1 with the German answer)
    get 1-4 by their F1, the rest 0-1, so the model learns where an answer starts and ends
    ("1900", not "Jahr 1900")."""
    from .evaluation import metrics

    if not e.answerable or not e.features.spans:
        return np.zeros(len(e.features.spans), dtype=np.int32)
    f1 = np.array([metrics.token_f1(c.text, e.golds, "de") for c in e.features.spans])
    e.extra["span_f1"] = f1
    best = f1 >= f1.max() - 1e-9
    return np.where(best, np.floor(f1 * 4 + 1e-9), np.floor(f1 * 2)).astype(np.int32)


def _heads(examples: list[Example], model_path: str, cache: Path,
           extra: list[span_head.HeadExample] = ()) -> tuple[list[span_head.SpanHead], span_head.SpanHead]:
    """One span head per fold (trained without that fold's articles) and one on all of them;
    each also learns from the `extra` items (cloze questions, which no fold holds)."""
    items = lambda keep: [x for e, k in zip(examples, keep) if k for x in e.extra.get("head", [])] + list(extra)
    per_fold = [_cached_fit(items(~held), model_path, cache, f"fold {n}")
                for n, held in enumerate(_folds(examples))]
    return per_fold, _cached_fit(items(np.ones(len(examples), dtype=bool)), model_path, cache, "all")


def _cached_fit(items: list[span_head.HeadExample], model_path: str, cache: Path, what: str) -> span_head.SpanHead:
    """span_head.fit, kept in `cache` under a hash of its training items and settings: training
    the encoder's updates is most of train-reader's time, and changing a ranker feature does not
    change them."""
    key = hashlib.sha1(repr((span_head.ADAPTED_LAYERS, span_head.RANK, span_head.SCALE,
                             inspect.signature(span_head.fit), Path(model_path).name,
                             [(x.ids, x.inside, x.start, x.end) for x in items])).encode()).hexdigest()[:16]
    path = cache / f"span-head-{key}.npz"
    if path.is_file():
        log.info("span head (%s): cached %s", what, path.name)
        return span_head.SpanHead.load(path)
    t0 = time.perf_counter()
    head = span_head.fit(items, model_path)
    cache.mkdir(parents=True, exist_ok=True)
    head.save(path)
    log.info("span head (%s, %d sentences): %.0f s", what, len(items), time.perf_counter() - t0)
    return span_head.SpanHead.load(path)   # as committed: float16 updates


def _span_rows(examples: list[Example], heads: list[span_head.SpanHead], model_path: str) -> None:
    """Span features of every example, with the head (and adapted encoder) that did not see its
    article."""
    folds = _folds(examples)
    for k, head in enumerate(heads):
        encoder = span_head.AdaptedEncoder(model_path, head)
        scorer = head_scorer(head, encoder.token_states)
        todo = np.flatnonzero(folds[k])
        for n, i in enumerate(todo):
            e = examples[i]
            span_features(e.features, e.oof_sentence_p, e.features.kind, scorer)
            e.span_y = _span_labels(e)
            if n % max(1, len(todo) // 5) == 0:
                log.info("span features, fold %d: %d of %d questions", k, n, len(todo))


def short_answer_f1(examples: list[Example], rule_kinds: set[str], by: str = "lang",
                    tie: float = APPOSITION_TIE) -> dict[str, float]:
    """Out-of-fold token F1 of the short answer the reader would give (answerable factoid
    questions), per question language (or kind), with the kind rule on for `rule_kinds` and
    near-ties within `tie` broken by an apposition (reader.best_span)."""
    out: dict[str, list[float]] = {}
    for e in examples:
        if not e.answerable or e.features.kind not in langs.FACTOID or not len(e.oof_span_p):
            continue
        r = Reading(e.features, e.oof_sentence_p, e.oof_span_p, None)
        best = best_span(r, rule_kinds, tie)
        key = e.lang if by == "lang" else e.features.kind
        out.setdefault(key, []).append(float(e.extra["span_f1"][best]))
    return {key: round(float(np.mean(v)), 4) for key, v in sorted(out.items())}


def choose_rule_kinds(examples: list[Example]) -> list[str]:
    """The kinds of question for which keeping only spans of the asked kind (a name for "who",
    a date for "when", ...) lowers the out-of-fold F1 by at most KIND_RULE_TOLERANCE; for the
    others the ranker, which sees the kind as a feature, decides alone."""
    every = set(langs.FACTOID)
    on, off = short_answer_f1(examples, every, by="kind"), short_answer_f1(examples, set(), by="kind")
    log.info("short-answer F1 by kind with the kind rule %s, without %s", on, off)
    return sorted(k for k in on if on[k] >= off[k] - KIND_RULE_TOLERANCE)


def train(examples: list[Example], model_path: str, cache: Path,
          extra_head_items: list[span_head.HeadExample] = ()) -> dict:
    """Fit the models; returns them (as TreeEnsembles and a SpanHead) plus the thresholds and
    out-of-fold figures. `model_path` is the local e5-small the span head adapts; trained heads
    are kept in `cache`; `extra_head_items` (cloze questions) are added to every head's training."""
    t0 = time.perf_counter()
    sentence = _cross_fit(examples, lambda e: e.features.sentence_x, lambda e: e.sentence_y,
                          lambda e, p: setattr(e, "oof_sentence_p", p))
    fold_heads, head = _heads(examples, model_path, cache, extra_head_items)
    _span_rows(examples, fold_heads, model_path)
    span = _cross_fit(examples, lambda e: e.features.span_x, lambda e: e.span_y,
                      lambda e, p: setattr(e, "oof_span_p", p), fit=_bagged(_fit_ranker))
    rows = lambda e: answerable_row(e.features, e.oof_sentence_p, e.oof_span_p)[None, :]
    fit_answerable = _bagged(_fit)
    oof_answerable = np.zeros(len(examples))
    for held in _folds(examples):
        train_ = [e for e, h in zip(examples, held) if not h]
        model = fit_answerable([rows(e) for e in train_], [np.array([e.answerable]) for e in train_])
        idx = np.flatnonzero(held)
        if len(idx):
            oof_answerable[idx] = model.proba(np.concatenate([rows(examples[i]) for i in idx]))
    answerable = fit_answerable([rows(e) for e in examples], [np.array([e.answerable]) for e in examples])
    threshold, abst = choose_abstention_thresholds(examples, oof_answerable)
    span_threshold = choose_span_threshold(examples)
    kind_rule = choose_rule_kinds(examples)
    f1 = short_answer_f1(examples, set(kind_rule))
    log.info("trained in %.0f s; kind rule for %s; out-of-fold short-answer F1 %s (without the rule %s, "
             "without the apposition on a near-tie %s)", time.perf_counter() - t0, kind_rule, f1,
             short_answer_f1(examples, set()), short_answer_f1(examples, set(kind_rule), tie=-1.0))
    return {"sentence": sentence, "span": span, "answerable": answerable, "head": head,
            "answerable_threshold": threshold, "span_threshold": span_threshold, "oof": abst,
            "kind_rule": kind_rule, "oof_short_answer_f1": f1}


def choose_abstention_thresholds(examples: list[Example], p: np.ndarray) -> tuple[dict[str, float], dict]:
    """A threshold per language group (reader.LANGUAGE_GROUPS: questions in the articles'
    language or not), each chosen on its own questions, and the out-of-fold abstention figures
    of both together (and per group)."""
    group = np.array([language_group(e.lang, CORPUS_LANGUAGE) for e in examples])
    answerable = np.array([e.answerable for e in examples])
    thresholds, stats = {}, {}
    for g in LANGUAGE_GROUPS:
        m = group == g
        thresholds[g] = choose_abstention_threshold(answerable[m], p[m]) if m.any() else 0.0
        stats[g] = abstention_stats(answerable[m], p[m] < thresholds[g])
    cut = np.array([thresholds[g] for g in group])
    return thresholds, dict(abstention_stats(answerable, p < cut), **stats)


def abstention_stats(answerable: np.ndarray, abstain: np.ndarray) -> dict:
    tp = int((abstain & ~answerable).sum())
    return {"precision": tp / max(1, int(abstain.sum())), "recall": tp / max(1, int((~answerable).sum())),
            "false_abstention": float(abstain[answerable].mean()) if answerable.any() else 0.0}


def choose_abstention_threshold(answerable: np.ndarray, p: np.ndarray, max_false: float = 0.05) -> float:
    """The threshold with the best balance of abstention precision and recall (F1) among those
    that decline at most `max_false` of the answerable questions."""
    best, best_t = -1.0, 0.0
    for t in np.unique(np.round(p, 4)):
        s = abstention_stats(answerable, p < t)
        f1 = 2 * s["precision"] * s["recall"] / max(1e-9, s["precision"] + s["recall"])
        if s["false_abstention"] <= max_false and f1 > best:
            best, best_t = f1, float(t)
    return best_t


def choose_span_threshold(examples: list[Example]) -> float:
    """The lowest span score at which giving the short answer beats quoting the sentence alone
    (out-of-fold, factoid questions that are answerable)."""
    from .evaluation import metrics

    pairs = []
    for e in examples:
        if not e.answerable or e.features.kind not in langs.FACTOID or not len(e.oof_span_p):
            continue
        best = int(np.argmax(e.oof_span_p))
        with_short = metrics.token_f1(e.features.spans[best].text, e.golds, "de")
        sentence = e.features.sentences[int(np.argmax(e.oof_sentence_p))].text
        pairs.append((float(e.oof_span_p[best]), with_short - metrics.token_f1(sentence, e.golds, "de")))
    pairs.sort()
    gains = np.array([g for _, g in pairs])
    # Dropping the short answer below threshold t loses the gains of the spans scored below t.
    best_t, best = 0.0, 0.0
    for i, (score, _) in enumerate(pairs):
        total = -gains[:i].sum()
        if total > best:
            best, best_t = total, score
    return best_t


def save(result: dict, folder: Path, meta: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("sentence", "span", "answerable"):
        result[name].save(folder / f"{name}.npz")
    result["head"].save(folder / "span_head.npz")
    _write_meta(folder, dict(meta, answerable_threshold=result["answerable_threshold"],
                span_threshold=result["span_threshold"], second_quote_ratio=0.5,
                kind_rule=result["kind_rule"], out_of_fold_short_answer_f1=result["oof_short_answer_f1"],
                out_of_fold_abstention=result["oof"], bagging={"rounds": BAG_ROUNDS, "share": BAG_SHARE,
                "models": ["span", "answerable"]}, sentence_features=SENTENCE_FEATURES,
                span_features=SPAN_FEATURES, answerable_features=ANSWERABLE_FEATURES))


def _write_meta(folder: Path, meta: dict) -> None:
    (folder / "meta.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


NO_MODELS_TO_KEEP = ("{folder} holds no reader models to keep; train them all first (without "
                     "--answerability-only).")


def save_answerability(result: dict, folder: Path, command: str) -> None:
    """Replace only the answerability model and its thresholds in `folder` (`--answerability-only`);
    the sentence and span models, the span head and their meta stay."""
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        raise RagError(NO_MODELS_TO_KEEP.format(folder=folder))
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    result["answerable"].save(folder / "answerable.npz")
    _write_meta(folder, dict(meta, answerable_threshold=result["answerable_threshold"],
                             out_of_fold_abstention=result["oof"], answerable_features=ANSWERABLE_FEATURES,
                             answerability_command=command))


def _parser() -> argparse.ArgumentParser:
    from .evaluation import data

    ap = argparse.ArgumentParser(prog="python -m rag train-reader", description=__doc__.split("\n")[0])
    ap.add_argument("--xquad", type=Path, default=data.DEFAULT_XQUAD, help="XQuAD folder")
    ap.add_argument("--out", type=Path, default=MODEL_DIR, help="where the models go")
    ap.add_argument("--work", type=Path, default=PROJECT_ROOT / ".cache" / "reader-train",
                    help="scratch folder for the dev store")
    ap.add_argument("--questions", type=int, default=None, help="dev questions per language (default all)")
    ap.add_argument("--cloze", type=int, default=0,
                    help="also train the span head on N cloze questions made from 10kGNAD sentences "
                         "(rag/cloze.py; better out of fold, not on the seed dev questions: README)")
    ap.add_argument("--gnad", type=Path, default=data.DEFAULT_GNAD, help="10kGNAD test.csv, for --cloze")
    ap.add_argument("--english-sentences", action="store_true",
                    help="also train the span head on the answers' sentences in the English paragraphs "
                         "(translate-train; better on dev, worse on the test articles)")
    ap.add_argument("--answerability-only", action="store_true",
                    help="replace only the answerability model and its thresholds in --out, keeping the "
                         "sentence and span models: for a change to answerability's features, whose "
                         "effect a full retrain's spread would blur (README)")
    return ap


def _meta(args: argparse.Namespace, questions: int, embedding_model: str, cloze_items_: list) -> dict:
    """meta.json's record of the command, data and library versions."""
    import lightgbm
    import sklearn

    flags = (f" --questions {args.questions}" if args.questions else "") + \
        (f" --cloze {args.cloze}" if args.cloze else "") + \
        (" --english-sentences" if args.english_sentences else "")
    meta = {"command": "python -m rag train-reader" + flags,
            "data": "XQuAD (google-deepmind/xquad, CC BY-SA 4.0) dev articles: even article index",
            "questions": questions, "scikit_learn": sklearn.__version__,
            "lightgbm": lightgbm.__version__,
            "embedding_model": embedding_model}
    if cloze_items_:
        meta["cloze"] = {"head_items": len(cloze_items_), "source": "10kGNAD (tblock/10kGNAD, CC BY-NC-SA 4.0) "
                         f"test.csv, from article {CLOZE_FIRST_ARTICLE + 1} on"}
    return meta


def main(argv: list[str] | None = None) -> int:
    from .embedding import Embedder, span_model_path
    from .evaluation import data
    from .settings import Settings

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        data.load_xquad(args.xquad)
        if args.answerability_only and not (args.out / "meta.json").exists():
            raise RagError(NO_MODELS_TO_KEEP.format(folder=args.out))
    except RagError as e:
        log.error("%s", e)
        return 2
    from threadpoolctl import threadpool_limits
    import torch

    # One thread: the same result on every machine, and OpenMP spinning on a busy 2-core machine
    # was several times slower than a single thread (embedding and tree fitting alike).
    torch.set_num_threads(1)
    settings = Settings.from_env()
    embedder = Embedder(settings)
    e5_path = span_model_path(settings)
    tokenizer = span_head.load_tokenizer(e5_path)
    examples = collect(args.xquad, args.work, embedder, tokenizer, args.questions, args.english_sentences)
    # The dictionary tells names from common nouns in cloze questions; loaded only for them.
    gloss = glossary.load(settings.dictionary) if args.cloze else None
    extra = cloze_items(tokenizer, args.gnad, args.cloze, gloss)
    with threadpool_limits(1):
        result = train(examples, e5_path, args.work / "heads", extra)
    meta = _meta(args, len(examples) // 2, embedder.name, extra)
    try:
        if args.answerability_only:
            save_answerability(result, args.out, meta["command"] + " --answerability-only")
        else:
            save(result, args.out, meta)
    except RagError as e:
        log.error("%s", e)
        return 2
    log.info("saved to %s; abstention thresholds %s, span threshold %.3f, out-of-fold %s", args.out,
             result["answerable_threshold"], result["span_threshold"], result["oof"])
    return 0
