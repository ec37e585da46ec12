"""What every evaluation part shares: opening assistants over dedicated stores, syncing a store
to exactly a set of files, progress bars, and a description of the run's environment."""
from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from ..settings import PROJECT_ROOT, Settings


def progress_bar(total: int, desc: str, unit: str = "q"):
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    # In a log file a redraw per item would bury everything else.
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=tty,
                mininterval=0.2 if tty else 30.0)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def settings_for(store_dir: Path, **overrides) -> Settings:
    return Settings.from_env(store_dir=store_dir, **overrides)


def open_bot(store_dir: Path, embedder, **overrides):
    """An Assistant over its own store that shares the already loaded embedding model (a model
    load costs seconds and hundreds of MB). No automatic seeding: the caller decides the corpus."""
    from .. import Assistant
    from ..store import ChunkStore

    settings = settings_for(store_dir, **overrides)
    return Assistant(settings, embedder, ChunkStore(settings, embedder.name))


def sync_corpus(bot, files: list[Path], desc: str):
    """Make the store hold exactly `files`: drop other articles, ingest new or changed ones
    (unchanged files cost nothing, so stores are reused across runs)."""
    wanted = {str(Path(f).resolve()) for f in files}
    extra = [s for s in bot.store.sources() if s not in wanted]
    if extra:
        bot.remove(extra)
    bar = progress_bar(len(files), desc, unit="file")

    def progress(done, total, _msg):
        bar.update(done - bar.n)

    try:
        report = bot.ingest(sorted(wanted), progress=progress, remove_missing=False)
    finally:
        bar.close()
    if report.failed:
        log(f"{desc}: {len(report.failed)} file(s) not ingested: "
            + "; ".join(f"{Path(p.path).name}: {p.reason}" for p in report.failed[:5]))
    return report


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    VmHWM belongs to the current address space; ru_maxrss can include the parent's memory at
    fork time, which would make every child look as big as the evaluation process."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def environment() -> dict:
    import importlib.metadata as md

    versions = {}
    for pkg in ("torch", "sentence-transformers", "transformers", "openvino", "onnxruntime", "chromadb",
                "llama-index-core", "llama-index-embeddings-huggingface"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = ""
    try:
        load = os.getloadavg()
    except OSError:
        load = ()
    return {
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in load],
        "versions": versions,
        "embedding_backend": _embedding_backend(),
    }


def _embedding_backend() -> str:
    """The engine and precision the run's embedding model uses (RAG_EMBEDDING_BACKEND resolved)."""
    from ..embedding import choose_backend
    from ..results import RagError

    try:
        c = choose_backend(Settings.from_env())
    except RagError as e:
        return str(e)
    return f"{c.backend} {c.precision} ({c.device})"


def public_settings(settings: Settings) -> dict:
    d = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(settings).items()}
    if d.get("llm_api_key"):
        d["llm_api_key"] = "***"
    return d
