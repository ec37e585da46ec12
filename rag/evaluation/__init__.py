"""Evaluation and benchmark suite: retrieval on XQuAD (German and English questions, optional
10kGNAD distractors, a llama-index baseline), answer quality on gold sets, speed and memory.

    python -m rag.evaluation            # everything, into eval-out/ (report.md, results.json, PNGs)
    python -m rag.evaluation --quick    # the CI-sized subset
See docs/eval.md."""
from __future__ import annotations


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Entry point for `python -m rag.evaluation` and `python -m rag eval`; returns the exit code."""
    from .cli import main as _main

    return _main(argv, prog)


__all__ = ["main"]
