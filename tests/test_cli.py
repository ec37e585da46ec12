"""The CLI as a user runs it (subprocesses, real model)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(args, store, timeout=600):
    env = dict(os.environ, RAG_STORE_DIR=str(store), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_ask_creates_store_from_seeds_and_answers(tmp_path):
    store = tmp_path / "store"
    out = run(["ask", "Wer ist der Sprecher des Kremls?"], store)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Dmitri Peskow")
    assert "[1]" in out.stdout and "seeds/" in out.stdout
    out = run(["ask", "--json", "Who is the Kremlin spokesman?"], store)
    d = json.loads(out.stdout)
    assert d["language"] == "en" and not d["abstained"] and "Peskow" in d["answer"]
    assert {"n", "source", "quote", "start", "end"} <= set(d["citations"][0])
    assert d["passages"] and "total" in d["timings_ms"]
    # An English reader gets the German source titles word for word too.
    assert d["citations"][0]["title_english"] and d["citations"][0]["title_english"] != d["citations"][0]["title"]
    out = run(["ask", "Who is the Kremlin spokesman?"], store)
    assert re.search(r"\n\[1\] .+\n    \(word for word: \u201c.+\u201d\)\n", out.stdout), out.stdout

    qfile = tmp_path / "q.txt"
    qfile.write_text("Wer ist der Sprecher des Kremls?\n\nWhere did Lavrov meet Kim Jong Un?\n", encoding="utf-8")
    out = run(["search", "--questions", str(qfile), "-k", "3"], store)
    rows = [json.loads(l) for l in out.stdout.splitlines()]
    assert len(rows) == 2 and all(len(r["passages"]) == 3 for r in rows)
    assert {"source", "text", "score"} <= set(rows[0]["passages"][0])
    assert "003_" in rows[1]["passages"][0]["source"]

    out = run(["ingest", str(ROOT / "seeds")], store)
    assert out.returncode == 0 and out.stdout.startswith("0 added, 0 updated, 5 unchanged")
    out = run(["articles"], store)
    assert "5 articles" in out.stdout


def _console_command() -> Path:
    """The `rag` command that `pip install -e .` (make install) puts beside the venv's python."""
    command = Path(sys.executable).parent / "rag"
    assert command.is_file(), f"{command} is missing: the project is not installed (make install)"
    return command


def test_console_command_and_api_work_from_any_directory(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, RAG_STORE_DIR=str(tmp_path / "store"), HF_HUB_OFFLINE="1")
    env.pop("PYTHONPATH", None)
    out = subprocess.run([str(_console_command()), "ask", "--json", "Who is the Kremlin spokesman?"],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert "Peskow" in d["answer"] and d["citations"][0]["source"].startswith(str(ROOT / "seeds"))

    script = ("from rag import Assistant; print(Assistant.open().ask('Wer ist der Sprecher des Kremls?').text)")
    out = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Dmitri Peskow")

    out = subprocess.run([str(_console_command()), "--help"], cwd=elsewhere, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("usage: rag ")


def test_listing_removing_and_info_do_not_load_the_model(tmp_path):
    store = tmp_path / "store"
    assert run(["ingest", str(ROOT / "seeds")], store).returncode == 0
    victim = next((ROOT / "seeds").glob("003_*.txt"))
    # In one process: every command that needs no embedding leaves torch and the model unimported.
    script = f"""
import sys
from rag.cli import main
assert main(["articles"]) == 0
assert main(["info", "--json"]) == 0
assert main(["remove", {str(victim)!r}]) == 0
assert main(["articles"]) == 0
loaded = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
print("LOADED", loaded)
"""
    env = dict(os.environ, RAG_STORE_DIR=str(store), HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "5 articles" in out.stdout and "4 articles" in out.stdout and re.search(r'"chunks": [1-9]', out.stdout)
    assert "1 removed" in out.stdout
    assert out.stdout.strip().endswith("LOADED []")
