"""Typed results the library hands to the UI, the CLI and the eval scripts."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


class RagError(Exception):
    """An error whose message is meant for the user as it is (no stack trace)."""


class StoreUnreachable(RagError):
    """The Chroma server cannot be reached (down, killed, wrong URL). The CLI exits with code 3."""

    def __init__(self, url: str):
        self.url = url
        super().__init__(f"The Chroma server at {url} is unreachable; start it (chroma run) or check "
                         f"RAG_CHROMA_URL / --chroma-url, then try again.")


@dataclass
class Passage:
    """A retrieved chunk of an article, with where it sits in the cleaned source text."""

    chunk_id: str
    text: str
    source: str          # file path as ingested
    title: str = ""
    outlet: str = ""
    date: str = ""
    url: str = ""
    start: int = 0       # character offsets of the chunk in the document text
    end: int = 0
    score: float = 0.0   # fused score (higher is better)
    dense_score: float | None = None   # cosine similarity, when the dense leg found it
    lexical_score: float | None = None
    # (clean_start, source_start, length) pieces: maps offsets in the cleaned text to the file's.
    segments: list = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("segments")
        return d

    def cite(self, n: int, start: int, end: int, score: float | None = None) -> "Citation":
        """Citation [n] of the text at [start, end) of this passage, its offsets mapped through the
        cleaning segments into the source file. The one place every answer builds citations."""
        from .cleaning import to_source

        return Citation(n=n, source=self.source, title=self.title, outlet=self.outlet,
                        quote=self.text[start:end], start=to_source(self.segments, self.start + start),
                        end=to_source(self.segments, self.start + end), chunk_id=self.chunk_id,
                        date=self.date, url=self.url, score=score)


@dataclass
class Citation:
    """One [n] in an answer: the verbatim quote and where it stands in the source document."""

    n: int
    source: str
    title: str
    outlet: str
    quote: str
    start: int           # character offsets of the quote in the document text
    end: int
    chunk_id: str = ""
    date: str = ""
    url: str = ""
    # LLM answers: how well the quote supports the claims citing it (0..1, see rag/verification.py);
    # None for extractive answers, whose quotes are the answer.
    score: float | None = None
    # An English answer: the article's German title word for word (rag/render.py
    # word_for_word), so a reader without German knows what the source is; "" otherwise.
    title_english: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ClaimSupport:
    """One claim of an LLM answer and what the citation check found for it."""

    text: str                  # the claim's words, markers removed
    citations: list[int]       # its [n] in Answer.text (empty when it was removed)
    score: float               # support score 0..1 of its best evidence
    verified: bool             # a cited passage supports it; False = removed from Answer.text
    status: str = "kept"       # kept | repointed (cited the wrong passage, now the right one) | removed
    cited: list[int] = field(default_factory=list)   # passages the model cited, 1-based in Answer.passages
    evidence: str = ""         # the verbatim passage text that supports it

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Answer:
    text: str
    language: str                     # language of the question ("de" / "en")
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    mode: str = "extractive"          # "extractive" or "llm:<model>"
    question: str = ""
    notice: str = ""                  # e.g. why an LLM answer fell back to extractive
    # LLM answers: every claim with its support; unverified claims are removed from `text` and
    # listed here with verified=False (docs/llm.md).
    claims: list[ClaimSupport] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["answer"] = d.pop("text")
        return d


@dataclass
class FileProblem:
    path: str
    reason: str


@dataclass
class CleaningLoss:
    """How much of one article the boilerplate rules removed (non-whitespace characters)."""

    path: str
    removed_chars: int
    total_chars: int

    @property
    def share(self) -> float:
        return self.removed_chars / self.total_chars if self.total_chars else 0.0


# Articles that lose more than this share to cleaning are called out in reports: either the page
# was mostly boilerplate, or a rule is eating article text.
CLEANING_LOSS_WARN = 0.2


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[FileProblem] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0
    # Per article ingested (added or updated): how many characters cleaning removed.
    cleaned: list[CleaningLoss] = field(default_factory=list)
    # Files in a folder left out on purpose (unsupported type, a link out of the folder).
    skipped: list[FileProblem] = field(default_factory=list)
    # Files not stored because another stored file has the same content (the reason names it).
    duplicates: list[FileProblem] = field(default_factory=list)
    # Files stored with a caveat, e.g. bytes that were not valid UTF-8 and were replaced.
    warnings: list[FileProblem] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def heavily_cleaned(self) -> list[CleaningLoss]:
        return [c for c in self.cleaned if c.share > CLEANING_LOSS_WARN]

    def summary(self) -> str:
        lines = [
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.failed)} failed "
            f"({self.chunks_added} chunks written, {self.chunks_removed} removed, {self.seconds:.1f} s)"
        ]
        lines += [f"  failed: {p.path}: {p.reason}" for p in self.failed]
        lines += [f"  skipped: {p.path}: {p.reason}" for p in self.skipped]
        lines += [f"  duplicate: {p.path}: {p.reason}" for p in self.duplicates]
        lines += [f"  warning: {p.path}: {p.reason}" for p in self.warnings]
        lines += [f"  cleaning removed {c.share:.0%} of the text ({c.removed_chars:,} of {c.total_chars:,} "
                  f"characters): {c.path}" for c in self.heavily_cleaned()]
        return "\n".join(lines)
