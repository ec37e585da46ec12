"""The CLI as a user runs it (subprocesses, real model)."""
import json
import os
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
