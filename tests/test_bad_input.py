"""Bad input gets a clear message and changes nothing else."""
import subprocess
import sys
from pathlib import Path

import pytest

from rag import RagError

ROOT = Path(__file__).resolve().parents[1]
TEXT = "Bundestag beschließt Gesetz\n\nDer Bundestag hat am Donnerstag ein neues Gesetz über Fähren beschlossen. Die Abstimmung fiel knapp aus."


def snapshot(bot):
    return sorted(bot.store.collection.get(include=[])["ids"])


@pytest.mark.parametrize("name,data,reason", [
    ("empty.txt", b"", "is empty"),
    ("blank.txt", b"  \n\n  ", "is empty"),
    ("binary.txt", bytes(range(256)) * 20, "binary"),
    ("image.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "unsupported file type"),
    ("tiny.txt", b"Hallo", "no article text"),
])
def test_bad_files_are_refused_and_store_untouched(make_assistant, tmp_path, name, data, reason):
    bot = make_assistant(seed=True)
    before = snapshot(bot)
    f = tmp_path / name
    f.write_bytes(data)
    report = bot.ingest([f])
    assert len(report.failed) == 1 and reason in report.failed[0].reason
    assert not report.added and snapshot(bot) == before


def test_missing_path(make_assistant, tmp_path):
    bot = make_assistant(seed=True)
    before = snapshot(bot)
    report = bot.ingest([tmp_path / "does-not-exist"])
    assert report.failed[0].reason == "no such file or folder"
    assert snapshot(bot) == before


def test_bad_file_in_folder_does_not_block_the_good_ones(make_assistant, tmp_path):
    bot = make_assistant(seed=False)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_text(TEXT, encoding="utf-8")
    (folder / "empty.md").write_bytes(b"")
    report = bot.ingest([folder])
    assert [Path(p).name for p in report.added] == ["good.txt"]
    assert [Path(p.path).name for p in report.failed] == ["empty.md"]


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "utf-8-sig", "cp1252"])
def test_other_encodings_are_read_correctly(make_assistant, tmp_path, encoding):
    bot = make_assistant(seed=False)
    f = tmp_path / f"article-{encoding}.txt"
    f.write_bytes(TEXT.encode(encoding))
    report = bot.ingest([f])
    assert len(report.added) == 1, report.failed
    hit = bot.search("Gesetz über Fähren", k=1)[0]
    assert "beschließt" in hit.text or "Fähren" in hit.text
    assert "Ã" not in hit.text


def test_html_and_markdown(make_assistant, tmp_path):
    bot = make_assistant(seed=False)
    html = tmp_path / "a.html"
    html.write_text("<html><head><title>Fähre – Spiegel</title><meta property='og:site_name' content='SPIEGEL'>"
                    "<meta property='article:published_time' content='2024-05-02T10:00:00Z'>"
                    "<script>alert(1)</script></head><body><nav>Menü Home</nav><article><h1>Neue Fähre"
                    "</h1><p>Die neue Fähre nach Sylt fährt ab Mai zweimal täglich.</p><p>WERBUNG</p>"
                    "<p>Der Betreiber rechnet mit vielen Gästen.</p></article><footer>Impressum</footer>"
                    "</body></html>", encoding="utf-8")
    md = tmp_path / "b.md"
    md.write_text("---\ntitle: Ein Markdown-Artikel\ndate: 2024-06-01\n---\n# Ein Markdown-Artikel\n\n"
                  "Der Zoo in Leipzig bekommt zwei neue Elefanten aus Thailand.\n", encoding="utf-8")
    report = bot.ingest([html, md])
    assert len(report.added) == 2, report.failed
    rows = {Path(a["source"]).name: a for a in bot.articles()}
    assert rows["a.html"]["outlet"] == "SPIEGEL" and rows["a.html"]["date"] == "2024-05-02"
    assert rows["b.md"]["title"] == "Ein Markdown-Artikel" and rows["b.md"]["date"] == "2024-06-01"
    texts = " ".join(p.text for p in bot.search("Fähre Sylt", k=5))
    assert "alert" not in texts and "Impressum" not in texts and "WERBUNG" not in texts
    a = bot.ask("Wie viele Elefanten bekommt der Zoo in Leipzig?")
    c = a.citations[0]
    assert Path(c.source).read_text(encoding="utf-8")[c.start:c.end] == c.quote


def test_empty_and_huge_questions(seeded):
    count = seeded.store.count()
    with pytest.raises(RagError, match="type a question"):
        seeded.ask("   ")
    with pytest.raises(RagError, match="characters long"):
        seeded.ask("Wer? " * 20_000)
    with pytest.raises(RagError):
        seeded.search("")
    assert seeded.store.count() == count


def test_cli_reports_bad_input_without_traceback(tmp_path):
    env = {"RAG_STORE_DIR": str(tmp_path / "store"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "rag", "ask", "--no-seed", ""], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "Error: Please type a question." in out.stderr
    assert "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "rag", "ingest", str(tmp_path / "nope.txt")], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "no such file or folder" in out.stdout
    assert "Traceback" not in out.stderr + out.stdout
