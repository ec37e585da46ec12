"""The span head's adapted encoder: its low-rank updates are saved, loaded and merged into e5, and
training them learns where answers are (real e5-small, torch)."""
from __future__ import annotations

import numpy as np
import pytest

from rag import span_head
from rag.reader import MODEL_DIR


@pytest.fixture(scope="module")
def e5_path():
    from rag.embedding import span_model_path
    from rag.settings import Settings

    return span_model_path(Settings.from_env())


@pytest.fixture(scope="module")
def tokenizer(e5_path):
    return span_head.load_tokenizer(e5_path)


def test_save_and_load_keep_the_updates(tmp_path):
    rng = np.random.default_rng(0)
    name = "encoder.layer.0.attention.self.query"
    head = span_head.SpanHead(rng.normal(size=(384, 2)).astype(np.float32), np.zeros(2, np.float32),
                              {name: (rng.normal(size=(8, 384)) * 0.01, rng.normal(size=(384, 8)) * 0.01)})
    head.save(tmp_path / "h.npz")
    back = span_head.SpanHead.load(tmp_path / "h.npz")
    assert set(back.adapters) == {name}
    down, up = back.adapters[name]
    np.testing.assert_allclose(up @ down, head.adapters[name][1] @ head.adapters[name][0], atol=1e-5)
    np.testing.assert_array_equal(back.weight, head.weight)


def test_committed_head_changes_the_encoder(e5_path):
    """The committed updates are merged: the adapted encoder's states differ from plain e5's, while
    an empty set of updates leaves e5 exactly as it was."""
    committed = span_head.SpanHead.load(MODEL_DIR / "span_head.npz")
    assert len(committed.adapters) == 12 * len(span_head.ADAPTED_LAYERS)
    text = span_head.joint_text("Wann wurde die Brücke eröffnet?", "Die Brücke wurde 1932 eröffnet.")[0]
    plain = span_head.AdaptedEncoder(e5_path, span_head.SpanHead(committed.weight, committed.bias))
    adapted = span_head.AdaptedEncoder(e5_path, committed)
    a, b = plain.token_states([text])[0], adapted.token_states([text])[0]
    assert a.offsets == b.offsets
    assert np.abs(a.states - b.states).max() > 0.1

    from transformers import AutoModel
    import torch

    base = AutoModel.from_pretrained(e5_path, local_files_only=True).eval()
    with torch.inference_mode():
        expected = base(input_ids=torch.tensor([plain.tokenizer.encode(text).ids])).last_hidden_state[0].numpy()
    np.testing.assert_allclose(a.states, expected, atol=1e-5)


def test_tokenizer_matches_transformers(e5_path, tokenizer):
    """The span head's tokenizer (load_tokenizer: transformers' own, saved as JSON) gives the same
    ids and character offsets as transformers for question + sentence texts."""
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(e5_path, local_files_only=True)
    texts = [span_head.joint_text(q, s)[0] for q, s in [
        ("Wer ist Choe Son Hui?", "Nordkoreas Außenministerin Choe Son Hui reiste am 1. Oktober 2024 nach Moskau."),
        ("How many people live in Köln?", "In Köln leben rund 1,08 Millionen Menschen  (Stand: 2023)."),
        ("Wann?", "Der 1. FC Köln spielte – wie erwartet – um 15.30 Uhr.")]]
    for text, ours in zip(texts, tokenizer.encode_batch(texts)):
        theirs = reference(text, truncation=True, max_length=span_head.MAX_LENGTH, return_offsets_mapping=True)
        assert ours.ids == theirs["input_ids"]
        assert [tuple(o) for o in ours.offsets] == [tuple(o) for o in theirs["offset_mapping"]]


def test_committed_head_finds_the_answer(e5_path):
    """The committed head, reading question and sentence together, puts its best start and end on
    the answer (sentences not from its training data)."""
    head = span_head.SpanHead.load(MODEL_DIR / "span_head.npz")
    encoder = span_head.AdaptedEncoder(e5_path, head)
    cases = [("Wann wurde die Brücke eröffnet?", "Die neue Brücke über den Fluss wurde im Mai 1932 eröffnet.", "Mai 1932"),
             ("Who opened the museum?", "Das Museum wurde von Bürgermeisterin Anna Keller eröffnet.", "Anna Keller"),
             ("Wie viele Besucher kamen?", "Zum Fest kamen nach Angaben der Polizei rund 12.000 Besucher.", "12.000")]
    for question, sentence, answer in cases:
        scores = span_head.score(head, encoder.token_states, question, [sentence])[0]
        s, e = int(np.argmax(scores.start)), int(np.argmax(scores.end))
        got = sentence[scores.offsets[s][0]:scores.offsets[e][1]]
        # Within the answer ("1932" for "Mai 1932") or the answer with a word or two around it.
        assert got and (got in answer or (answer in got and len(got) <= len(answer) + 16)), (question, got)


def test_training_learns_the_spans(e5_path, tokenizer):
    """Twenty epochs on six items put the head's best start and end on each item's answer; with no
    training (zero epochs) it gets them wrong."""
    items = [("Wer leitet das Amt?", "Das Amt leitet seit März Petra Schulz.", "Petra Schulz"),
             ("Wann begann der Bau?", "Der Bau begann im Jahr 1998 nach langem Streit.", "1998"),
             ("Wo liegt das Werk?", "Das Werk liegt in Cottbus an der Spree.", "Cottbus"),
             ("Wie hoch ist der Turm?", "Der Turm ist 368 Meter hoch.", "368 Meter"),
             ("Who won the race?", "Das Rennen gewann überraschend Tom Berger.", "Tom Berger"),
             ("How many seats?", "Die Halle hat 4500 Plätze.", "4500")]
    examples = []
    for q, sentence, answer in items:
        a0 = sentence.index(answer)
        examples.append(span_head.head_example(tokenizer, q, sentence, a0, a0 + len(answer)))

    def hits(head) -> int:
        encoder = span_head.AdaptedEncoder(e5_path, head)
        n = 0
        for (q, sentence, answer), ex in zip(items, examples):
            scores = span_head.score(head, encoder.token_states, q, [sentence])[0]
            n += (int(np.argmax(scores.start)), int(np.argmax(scores.end))) == (ex.start, ex.end)
        return n

    assert hits(span_head.fit(examples, e5_path, epochs=20, lr=3e-3, batch_size=3)) == len(items)
    assert hits(span_head.fit(examples, e5_path, epochs=0)) < len(items) // 2


def test_the_reader_runs_a_converted_copy_on_the_embedding_engine(e5_path, tmp_path):
    """With the default (auto) backend the reader's encoder is the merged model converted for
    OpenVINO, cached in the model cache under the head's content: its token states agree with
    torch's, and a different head is not served from that copy."""
    from rag import model_export, reader
    from rag.embedding import choose_backend
    from rag.settings import Settings

    settings = Settings.from_env(embedding_backend="auto")
    if choose_backend(settings).backend != "openvino":
        pytest.fail("the requirements install OpenVINO; auto must choose it on this CPU")
    converted = reader.span_encoder(e5_path, settings=settings)
    assert reader.span_encoder(e5_path, settings=settings) is converted        # once per process
    in_torch = reader.span_encoder(e5_path)
    assert in_torch is not converted
    texts = [span_head.joint_text("Wer ist der Sprecher des Kremls?",
                                  "Kremlsprecher Dmitri Peskow sagte am Montag, man verfolge die Lage.")[0],
             span_head.joint_text("When did the council meet?", "Der Rat tagte am 12. März 2024 in Graz.")[0]]
    for a, b in zip(converted.token_states(texts), in_torch.token_states(texts)):
        assert a.offsets == b.offsets
        cos = (a.states * b.states).sum(1) / np.linalg.norm(a.states, axis=1) / np.linalg.norm(b.states, axis=1)
        assert cos.min() > 0.999
    head_file = MODEL_DIR / "span_head.npz"
    target = model_export.export_dir(e5_path, settings, "openvino", head_file)
    assert model_export.is_current(target, e5_path, "openvino", head_file)
    other = tmp_path / "span_head.npz"
    head = span_head.SpanHead.load(head_file)
    name = next(iter(head.adapters))
    head.adapters[name] = (head.adapters[name][0], head.adapters[name][1] * 2)
    head.save(other)
    assert not model_export.is_current(target, e5_path, "openvino", other)


def test_training_items_from_the_german_and_optionally_the_english_paragraph(tokenizer):
    """train-reader's head items of one question: the answer's sentence in its German paragraph,
    and with `--english-sentences` also in the parallel English one (XQuAD's English answer_start
    points there)."""
    from conftest import SHARED

    from rag import reader_train
    from rag.evaluation import data

    folder = SHARED / "data" / "xquad"
    xq = data.load_xquad(folder)
    english = {p.id: p.en for p in data.load_parallel(folder)}
    for q in xq.questions["en"]:
        a0 = q.answer_starts[0]
        assert english[q.paragraph_id][a0:a0 + len(q.answers[0])] == q.answers[0], q.id
    gold = {lang: {q.id: q for q in xq.questions[lang]} for lang in ("de", "en")}
    text_of = {"de": {p.id: p.text for p in xq.paragraphs}, "en": english}
    q = xq.questions["en"][0]
    assert len(reader_train.head_items(tokenizer, q, text_of, gold)) == 1
    items = reader_train.head_items(tokenizer, q, text_of, gold, english_sentences=True)
    assert len(items) == 2
    for item, lang in zip(items, ("de", "en")):
        tokens = item.ids[item.inside[item.start]:item.inside[item.end] + 1]
        assert tokenizer.decode(tokens).strip() == gold[lang][q.id].answers[0]
