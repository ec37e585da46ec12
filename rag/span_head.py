"""The span head: where in a sentence the answer to a question starts and ends.

The question and one candidate sentence are encoded together by the same e5 model the store uses
("query: <question> passage: <sentence>"), so every sentence token's last hidden state has
attended to the question's words. A linear layer over those frozen states gives a start and an
end score per token (a softmax over the sentence's tokens), as in span-extraction QA heads. It is
trained by `python -m rag train-reader` on the XQuAD dev questions' gold sentences (768 weights +
2 biases, committed as rag/data/reader/span_head.npz) and feeds the span ranker as features: the
ranker alone sees words and kinds, the head sees what the encoder made of the question.

`python -m rag train-reader` logs the reader's out-of-fold short-answer F1 on the dev articles
and writes it to meta.json; the README gives the reader's numbers on the test articles before and
after the head."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Log-probabilities within the sentence and their gaps to the sentence's best. The raw score
# (`raw_score`) compares across sentences and questions: it feeds the answerability model, not the
# span ranker (out-of-fold on dev it raised abstention recall and lowered the ranker's F1).
HEAD_FEATURES = ("head_start", "head_end", "head_sum", "head_start_gap", "head_end_gap")
QUERY_PROMPT, PASSAGE_PROMPT = "query: ", "passage: "


@dataclass
class SpanHead:
    weight: np.ndarray       # dim x 2 (start, end)
    bias: np.ndarray         # 2

    def save(self, path: Path) -> None:
        np.savez_compressed(path, weight=self.weight.astype(np.float32), bias=self.bias.astype(np.float32))

    @classmethod
    def load(cls, path: Path) -> "SpanHead":
        with np.load(path) as z:
            return cls(z["weight"], z["bias"])


@dataclass
class SentenceScores:
    """Per token of one sentence: its character range and the head's log-probabilities that the
    answer starts / ends there."""
    offsets: list[tuple[int, int]]
    start: np.ndarray
    end: np.ndarray
    raw_start: np.ndarray      # the scores before the softmax
    raw_end: np.ndarray

    def token_at(self, char: int, ending: bool) -> int:
        return token_at(self.offsets, char, ending)


def token_at(offsets, char: int, ending: bool) -> int:
    """The token (by its (start, end) `offsets`) holding character `char`, or ending at `char`
    when `ending`."""
    for k, (a, b) in enumerate(offsets):
        if (a < char <= b) if ending else (a <= char < b):
            return k
    return len(offsets) - 1 if ending else 0


def joint_text(question: str, sentence: str) -> tuple[str, int]:
    """The text the encoder reads and where the sentence starts in it."""
    prefix = f"{QUERY_PROMPT}{question.strip()} {PASSAGE_PROMPT}"
    return prefix + sentence, len(prefix)


def sentence_tokens(offsets: list[tuple[int, int]], sentence_start: int) -> list[tuple[int, list[int]]]:
    """Indices of the tokens inside the sentence with their offsets relative to it."""
    return [(k, [a - sentence_start, b - sentence_start]) for k, (a, b) in enumerate(offsets)
            if a >= sentence_start and b > a]


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


def score(head: SpanHead, token_states, question: str, sentences: list[str]) -> list[SentenceScores]:
    """The head's scores for each sentence; `token_states` is Embedder.token_states."""
    if not sentences:
        return []
    texts = [joint_text(question, s) for s in sentences]
    out = []
    for (text, cut), ts in zip(texts, token_states([t for t, _ in texts])):
        inside = sentence_tokens(ts.offsets, cut)
        if not inside:
            out.append(SentenceScores([(0, 0)], np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1)))
            continue
        logits = ts.states[[k for k, _ in inside]] @ head.weight + head.bias
        out.append(SentenceScores([tuple(o) for _, o in inside], _log_softmax(logits[:, 0]),
                                  _log_softmax(logits[:, 1]), logits[:, 0], logits[:, 1]))
    return out


def span_row(scores: SentenceScores, start: int, end: int) -> list[float]:
    """HEAD_FEATURES of the phrase at characters [start, end) of the sentence."""
    s = scores.start[scores.token_at(start, ending=False)]
    e = scores.end[scores.token_at(end, ending=True)]
    return [float(s), float(e), float(s + e), float(scores.start.max() - s), float(scores.end.max() - e)]


def raw_score(scores: SentenceScores, start: int, end: int) -> float:
    """The head's score of the phrase before the softmax over its sentence."""
    return float(scores.raw_start[scores.token_at(start, ending=False)]
                 + scores.raw_end[scores.token_at(end, ending=True)])


@dataclass
class HeadExample:
    states: np.ndarray       # the sentence's tokens x dim
    start: int               # index of the answer's first and last token among them
    end: int


def fit(examples: list[HeadExample], epochs: int = 8, seed: int = 0) -> SpanHead:
    """Train start and end scores by softmax cross-entropy over each sentence's tokens (torch,
    one thread, fixed seed and order: the same weights on every run)."""
    import torch

    torch.manual_seed(seed)
    dim = examples[0].states.shape[1]
    layer = torch.nn.Linear(dim, 2)
    opt = torch.optim.AdamW(layer.parameters(), lr=1e-3, weight_decay=0.01)
    loss_of = torch.nn.functional.cross_entropy
    for epoch in range(epochs):
        for i in np.random.RandomState(seed + epoch).permutation(len(examples)):
            ex = examples[i]
            out = layer(torch.from_numpy(ex.states.astype(np.float32)))
            loss = loss_of(out[:, 0][None], torch.tensor([ex.start])) + loss_of(out[:, 1][None], torch.tensor([ex.end]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    w = layer.weight.detach().numpy().T.copy()
    return SpanHead(w.astype(np.float32), layer.bias.detach().numpy().astype(np.float32))
