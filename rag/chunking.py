"""Sentence splitting and sentence-aware chunking, both with character offsets."""
from __future__ import annotations

from .text import Span, split_sentences

__all__ = ["Span", "chunk", "split_sentences"]

def chunk(text: str, max_chars: int, overlap_chars: int) -> list[Span]:
    """Pack whole sentences into chunks of at most max_chars; consecutive chunks share
    trailing sentences of up to overlap_chars so an answer split across a border is still found.
    A single sentence longer than max_chars is cut at word boundaries."""
    sentences: list[Span] = []
    for s in split_sentences(text):
        sentences.extend(_split_long(s, max_chars))
    chunks: list[Span] = []
    i = 0
    while i < len(sentences):
        j = i
        while j < len(sentences) and sentences[j].end - sentences[i].start <= max_chars:
            j += 1
        j = max(j, i + 1)
        start, end = sentences[i].start, sentences[j - 1].end
        chunks.append(Span(start, end, text[start:end]))
        if j >= len(sentences):
            break
        # Step back over whole sentences that fit in the overlap, but always move forward.
        k = j
        while k - 1 > i and sentences[j - 1].end - sentences[k - 1].start <= overlap_chars:
            k -= 1
        i = k
    return chunks


def _split_long(s: Span, max_chars: int) -> list[Span]:
    if len(s.text) <= max_chars:
        return [s]
    out, pos = [], 0
    while pos < len(s.text):
        end = min(pos + max_chars, len(s.text))
        if end < len(s.text):
            cut = s.text.rfind(" ", pos + max_chars // 2, end)
            end = cut if cut > pos else end
        piece = s.text[pos:end]
        lead = len(piece) - len(piece.lstrip())
        if piece.strip():
            out.append(Span(s.start + pos + lead, s.start + pos + len(piece.rstrip()), piece.strip()))
        pos = end
    return out
