"""The span head: where in a sentence the answer to a question starts and ends.

The question and one candidate sentence are encoded together by e5 ("query: <question> passage:
<sentence>"), so every sentence token's last hidden state has attended to the question's words. A
linear layer over those states gives a start and an end score per token (a softmax over the
sentence's tokens), as in span-extraction QA heads. The encoder is e5-small with low-rank updates
(LoRA, rank 8) to the linear layers of its twelve blocks, trained with the head by
`python -m rag train-reader` on the XQuAD dev questions' gold sentences and committed as
rag/data/reader/span_head.npz (0.66 M numbers, float16). The store's own embeddings are not
touched: `AdaptedEncoder` is a second copy of e5 with the updates merged into its weights.

Why adapted and not frozen: with a linear layer over frozen e5 states the reader's out-of-fold
short-answer F1 on the dev articles was 34.1 (de) / 25.7 (en questions); with the adapted encoder
it is 39.2 / 31.0 (`python -m rag train-reader`, meta.json), and 52.5 / 23.0 instead of 38.6 /
16.5 on the test articles (`python -m rag eval answers`, README "Quality and speed").

The head's scores are features of the span ranker: the ranker alone sees words and kinds, the head
sees what the encoder made of the question."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .embedding import pad_batch

# Log-probabilities within the sentence and their gaps to the sentence's best. The raw score
# (`raw_score`) compares across sentences and questions: it feeds the answerability model, not the
# span ranker (out-of-fold on dev it raised abstention recall and lowered the ranker's F1).
# Training the head also on sentences that do not answer (target: the first token, as SQuAD 2.0
# readers do) and giving the ranker the margin over that no-answer score was a wash on dev
# (out-of-fold F1 +0.1 de / +1.7 en, abstention recall -0.2 points, same training otherwise;
# on the test articles it was worse), so the simpler head stays.
HEAD_FEATURES = ("head_start", "head_end", "head_sum", "head_start_gap", "head_end_gap")
QUERY_PROMPT, PASSAGE_PROMPT = "query: ", "passage: "


@dataclass
class TokenStates:
    """The encoder's last hidden state for each token of one text, with each token's character
    offsets (start, end) in that text (special tokens have (0, 0))."""
    offsets: list[tuple[int, int]]
    states: np.ndarray                    # tokens x dim, float32


# The linear layers of each e5 block that get a low-rank update, and its rank and scale (the
# usual LoRA alpha / rank = 2).
ADAPTED_LAYERS = ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense", "intermediate.dense", "output.dense")
RANK, SCALE = 8, 2.0
MAX_LENGTH = 512


@dataclass
class SpanHead:
    weight: np.ndarray       # dim x 2 (start, end)
    bias: np.ndarray         # 2
    # encoder module name -> (down: rank x in, up: out x rank, scale folded in); the update to
    # the module's weight is up @ down.
    adapters: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        arrays = {"weight": self.weight.astype(np.float32), "bias": self.bias.astype(np.float32)}
        for name, (down, up) in self.adapters.items():
            arrays[f"down:{name}"], arrays[f"up:{name}"] = down.astype(np.float16), up.astype(np.float16)
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> "SpanHead":
        with np.load(path) as z:
            names = [k[len("down:"):] for k in z.files if k.startswith("down:")]
            adapters = {n: (z[f"down:{n}"].astype(np.float32), z[f"up:{n}"].astype(np.float32)) for n in names}
            return cls(z["weight"], z["bias"], adapters)


Infer = Callable[[np.ndarray, np.ndarray], np.ndarray]   # (input ids, mask) -> last hidden state


class AdaptedEncoder:
    """e5 with a head's low-rank updates merged into its weights; `token_states` reads texts as
    given (no prompt is added). `infer` runs the merged model: by default e5 in torch (about
    0.5 GB), or the converted copy the embedding backend runs (rag.reader.span_encoder, which
    builds it once per process). Thread-safe: the tokenizer's settings are fixed at load and
    both runners serve concurrent calls."""

    def __init__(self, model_path: str, head: SpanHead, infer: Infer | None = None):
        self.tokenizer = load_tokenizer(model_path)
        self.pad_id = self.tokenizer.token_to_id("<pad>") or 0
        self._infer = infer or torch_infer(model_path, head)

    def token_states(self, texts: list[str]) -> list[TokenStates]:
        if not texts:
            return []
        encodings = self.tokenizer.encode_batch(texts)
        ids, mask = pad_batch([e.ids for e in encodings], self.pad_id)
        hidden = self._infer(ids, mask)
        return [TokenStates(list(e.offsets), hidden[k, :len(e.ids)]) for k, e in enumerate(encodings)]


def merge(model, head: SpanHead) -> None:
    """Add the head's low-rank updates to the weights of a transformers e5 (in place)."""
    import torch

    with torch.no_grad():
        for name, (down, up) in head.adapters.items():
            model.get_submodule(name).weight += torch.from_numpy(up.astype(np.float32) @ down.astype(np.float32))


def torch_infer(model_path: str, head: SpanHead) -> Infer:
    """The merged model in torch on the CPU (forward passes under inference_mode share it)."""
    import torch
    from transformers import AutoModel

    _quiet_transformers()
    model = AutoModel.from_pretrained(model_path, local_files_only=True)
    merge(model, head)
    model.eval()

    def infer(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(input_ids=torch.from_numpy(ids),
                         attention_mask=torch.from_numpy(mask)).last_hidden_state.float().numpy()

    return infer


def load_tokenizer(model_path: str):
    """e5's tokenizer as transformers builds it, kept as tokenizers JSON beside the model: loading
    that takes 0.7 s instead of 2 s through transformers, with the same ids and character offsets
    (checked on all 2,380 XQuAD question + paragraph texts). No padding; cut at MAX_LENGTH."""
    from tokenizers import Tokenizer

    cached = Path(model_path).parent / f"{Path(model_path).name}-tokenizer.json"
    if not cached.is_file():
        from transformers import AutoTokenizer

        built = AutoTokenizer.from_pretrained(model_path, local_files_only=True).backend_tokenizer
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        tmp.write_text(built.to_str(), encoding="utf-8")
        os.replace(tmp, cached)      # whole or not at all, also with two processes at once
    tokenizer = Tokenizer.from_file(str(cached))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_LENGTH)
    return tokenizer


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
    """The head's scores for each sentence; `token_states` is AdaptedEncoder.token_states."""
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
    ids: list[int]           # the joint text's token ids
    inside: list[int]        # positions of the sentence's tokens among them
    start: int               # index of the answer's first and last token among the sentence's
    end: int


def head_example(tokenizer, question: str, sentence: str, a0: int, a1: int) -> HeadExample | None:
    """The training item for an answer at characters [a0, a1) of `sentence`; None when it does not
    fit in the encoder's window."""
    text, cut = joint_text(question, sentence)
    enc = tokenizer.encode(text)      # load_tokenizer's
    inside = sentence_tokens(enc.offsets, cut)
    if not inside:
        return None
    offsets = [o for _, o in inside]
    start, end = token_at(offsets, a0, ending=False), token_at(offsets, a1, ending=True)
    if end < start or offsets[-1][1] < a1:
        return None
    return HeadExample(list(enc.ids), [k for k, _ in inside], start, end)


def fit(examples: list[HeadExample], model_path: str, epochs: int = 3, lr: float = 5e-4,
        batch_size: int = 16, seed: int = 0, threads: int = 2) -> SpanHead:
    """Train the head and the encoder's low-rank updates by softmax cross-entropy of the answer's
    start and end over the sentence's tokens (AdamW, warm-up then linear decay; fixed seed, order
    and thread count: the same weights on every run here)."""
    import torch
    from transformers import AutoModel

    _quiet_transformers()
    torch.manual_seed(seed)
    model = AutoModel.from_pretrained(model_path, local_files_only=True)
    model.requires_grad_(False)
    adapters = _add_adapters(model)
    head = torch.nn.Linear(model.config.hidden_size, 2)
    params = [p for a in adapters.values() for p in (a.down, a.up)] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    steps = max(1, epochs * -(-len(examples) // batch_size))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, (k + 1) / 20) * max(0.0, 1 - k / steps))
    # Two threads: about twice as fast as one on this 2-core machine when nothing else runs
    # (the rest of train-reader stays single-threaded).
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model.train()
        for epoch in range(epochs):
            order = np.random.RandomState(seed + epoch).permutation(len(examples))
            for k in range(0, len(order), batch_size):
                loss = _batch_loss(model, head, [examples[i] for i in order[k:k + batch_size]])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
    finally:
        torch.set_num_threads(previous)
    return SpanHead(head.weight.detach().numpy().T.copy(), head.bias.detach().numpy().copy(),
                    {name: a.export() for name, a in adapters.items()})


def _quiet_transformers() -> None:
    # Loading bars would drown the CLI's own output.
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _add_adapters(model) -> dict:
    """Wrap every ADAPTED_LAYERS module of every block in a low-rank update (in place)."""
    import torch

    class LowRank(torch.nn.Module):
        def __init__(self, base):
            super().__init__()
            self.base = base
            self.down = torch.nn.Parameter(torch.randn(RANK, base.in_features) * 0.01)
            self.up = torch.nn.Parameter(torch.zeros(base.out_features, RANK))

        def forward(self, x):
            return self.base(x) + (x @ self.down.T @ self.up.T) * SCALE

        def export(self):
            return self.down.detach().numpy().copy(), (self.up.detach() * SCALE).numpy().copy()

    out = {}
    for i, block in enumerate(model.encoder.layer):
        for path in ADAPTED_LAYERS:
            parent_path, _, leaf = path.rpartition(".")
            parent = block.get_submodule(parent_path)
            wrapped = LowRank(getattr(parent, leaf))
            setattr(parent, leaf, wrapped)
            out[f"encoder.layer.{i}.{path}"] = wrapped
    return out


def _batch_loss(model, head, batch: list[HeadExample]):
    import torch

    # Padding is masked out, so its id does not change the sentence tokens' states.
    ids, mask = pad_batch([b.ids for b in batch], 0)
    hidden = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
    ce = torch.nn.functional.cross_entropy
    total = 0
    for row, b in enumerate(batch):
        out = head(hidden[row, b.inside])
        total = total + ce(out[:, 0][None], torch.tensor([b.start])) + ce(out[:, 1][None], torch.tensor([b.end]))
    return total / len(batch)
