"""Thumbs up/down on answers: an append-only JSON-lines file in the store directory.

Append-only so that a crash or two writers at once can at worst cut the last line short, never
rewrite earlier records; `read` skips such a line instead of failing the export."""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .results import RagError
from .settings import Settings

log = logging.getLogger(__name__)
_LOCK = threading.Lock()
FILE_NAME = "feedback.jsonl"
RATINGS = ("up", "down")


@dataclass
class FeedbackRecord:
    rating: str                       # "up" or "down"
    question: str
    answer: str                       # the answer text with its [n] markers
    sources: list[dict] = field(default_factory=list)   # n, source, title, outlet, date, quote
    mode: str = ""                    # "extractive" or "llm:<model>"
    time: str = ""                    # UTC, ISO 8601; filled in by `record` when empty


def path(settings: Settings) -> Path:
    return Path(settings.store_dir) / FILE_NAME


def record(settings: Settings, item: FeedbackRecord) -> FeedbackRecord:
    """Append one record (thread-safe) and return it as written."""
    if item.rating not in RATINGS:
        raise RagError(f"Feedback must be one of {', '.join(RATINGS)}, not '{item.rating}'.")
    if not item.time:
        item.time = datetime.now(timezone.utc).isoformat(timespec="seconds")
    target = path(settings)
    line = json.dumps(asdict(item), ensure_ascii=False) + "\n"
    with _LOCK:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as f:
            f.write(line)
    return item


def read(file: Path) -> list[dict]:
    """Every record in `file` (none if it does not exist yet), oldest first."""
    if not Path(file).is_file():
        return []
    out = []
    for i, line in enumerate(Path(file).read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s line %d is not a complete record; skipped", file, i)
    return out


def from_answer(rating: str, question: str, answer) -> FeedbackRecord:
    """A record for an Answer (rag.results.Answer): its text and the passages it cites."""
    sources = [dict(n=c.n, source=c.source, title=c.title, outlet=c.outlet, date=c.date, quote=c.quote)
               for c in answer.citations]
    return FeedbackRecord(rating=rating, question=question, answer=answer.text, sources=sources,
                          mode=answer.mode)
