"""Feedback records and the answer actions' text (copy, download), without a model."""
from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

import ui_render as ui
from rag import feedback
from rag.results import RagError
from rag.settings import Settings


def _answer():
    p = SimpleNamespace(chunk_id="c1", text="Kremlsprecher Dmitri Peskow sagte am Montag etwas.", date="2024-01-15")
    c = SimpleNamespace(n=1, chunk_id="c1", title="Peskow <b>spricht</b>", outlet="RT", date="", source="seeds/a.txt",
                        url="", quote="Kremlsprecher Dmitri Peskow sagte am Montag etwas.")
    return SimpleNamespace(text="Dmitri Peskow. Laut [1]: „Kremlsprecher Dmitri Peskow sagte am Montag etwas.“",
                           language="de", mode="extractive", abstained=False, citations=[c], passages=[p])


def test_records_are_appended_and_read_back_in_order(tmp_path):
    settings = Settings(store_dir=tmp_path / "store")
    threads = [threading.Thread(target=feedback.record, args=(settings, feedback.FeedbackRecord(
        rating="up" if i % 2 else "down", question=f"q{i}", answer="a"))) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = feedback.read(feedback.path(settings))
    assert sorted(r["question"] for r in rows) == sorted(f"q{i}" for i in range(20))
    assert all(r["time"].endswith("+00:00") for r in rows)


def test_a_cut_off_last_line_is_skipped_not_fatal(tmp_path):
    settings = Settings(store_dir=tmp_path)
    feedback.record(settings, feedback.FeedbackRecord(rating="up", question="q", answer="a"))
    with feedback.path(settings).open("a", encoding="utf-8") as f:
        f.write('{"rating": "do')
    assert [r["question"] for r in feedback.read(feedback.path(settings))] == ["q"]
    assert feedback.read(tmp_path / "none.jsonl") == []


def test_an_unknown_rating_is_refused_and_nothing_written(tmp_path):
    settings = Settings(store_dir=tmp_path)
    with pytest.raises(RagError, match="up, down"):
        feedback.record(settings, feedback.FeedbackRecord(rating="meh", question="q", answer="a"))
    assert not feedback.path(settings).exists()


def test_copy_text_is_plain_with_markers_and_a_source_list():
    record = ui.answer_record("Wer ist der Sprecher des Kremls?", _answer())
    assert record["copy"] == ("Dmitri Peskow. Laut [1]: „Kremlsprecher Dmitri Peskow sagte am Montag etwas.“\n\n"
                              "Quellen:\n[1] Peskow <b>spricht</b> (RT, 2024-01-15): seeds/a.txt")


def test_an_english_answers_copy_and_download_give_the_sources_title_word_for_word():
    answer = _answer()
    answer.language = "en"
    answer.citations[0].title_english = "Peskow speaks"
    record = ui.answer_record("Who is the Kremlin's spokesman?", answer)
    line = "[1] Peskow <b>spricht</b> (word for word: “Peskow speaks”) (RT, 2024-01-15): seeds/a.txt"
    assert record["copy"].endswith("Sources:\n" + line)
    messages = [{"role": "user", "content": ui.user_html(record["question"])},
                {"role": "assistant", "content": ui.answer_html(record["answer"], 0) + ui.actions_html(record)}]
    assert f"**{line}**" in ui.conversation_markdown(messages)


def test_the_record_survives_the_bubble_html_and_stays_inert():
    record = ui.answer_record("Was ist <script>x</script>?", _answer())
    bubble = ui.answer_html(record["answer"], 0) + ui.actions_html(record)
    assert "<script>" not in bubble and "<b>" not in bubble and "\n" not in bubble
    assert ui.record_from_html(bubble) == record
    # Gradio may hand message content back as a list of text blocks.
    assert ui.record_from_html([{"type": "text", "text": bubble}]) == record
    assert ui.record_from_html(ui.error_html("kaputt")) is None


def test_conversation_markdown_has_questions_answers_and_cited_passages():
    record = ui.answer_record("Wer ist der Sprecher des Kremls?", _answer())
    messages = [{"role": "user", "content": ui.user_html(record["question"])},
                {"role": "assistant", "content": ui.answer_html(record["answer"], 0) + ui.actions_html(record)},
                {"role": "user", "content": ui.user_html("Und sonst?")},
                {"role": "assistant", "content": ui.error_html("Fehler")}]
    md = ui.conversation_markdown(messages)
    assert md.startswith("# News Q&A conversation\n\n## Wer ist der Sprecher des Kremls?\n\nDmitri Peskow. Laut [1]")
    assert "**[1] Peskow <b>spricht</b> (RT, 2024-01-15): seeds/a.txt**" in md
    assert "> Kremlsprecher Dmitri Peskow sagte am Montag etwas." in md and "Und sonst?" not in md
    assert ui.conversation_markdown([]) == ""
    json.dumps(record)   # what the bubble carries is plain JSON


def _messages() -> list[dict]:
    """A chat of one question and its answer, as the page holds it."""
    record = ui.answer_record("Wer ist der Sprecher des Kremls?", _answer())
    return [{"role": "user", "content": ui.user_html(record["question"])},
            {"role": "assistant", "content": ui.answer_html(record["answer"], 0) + ui.actions_html(record)}]


def test_conversation_downloads_do_not_pile_up_in_the_temp_folder(tmp_path, monkeypatch):
    """Each download used to leave a folder of its own in the temp folder for good (one per answered
    question on a server). Now they share one folder; older files go as new ones come, all at close."""
    import app
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    messages = _messages()
    files = app.ConversationFiles(keep_seconds=0)
    assert files([]) is None
    paths = [Path(files(messages)) for _ in range(5)]
    assert len(set(paths)) == 5 and paths[-1].name.startswith("conversation-") and paths[-1].suffix == ".md"
    assert paths[-1].read_text(encoding="utf-8") == ui.conversation_markdown(messages)
    assert sorted(tmp_path.rglob("*.md")) == [paths[-1]]   # the four before it were removed
    kept = app.ConversationFiles(keep_seconds=600)
    fresh = [Path(kept(messages)) for _ in range(3)]
    assert all(p.exists() for p in fresh)   # within keep_seconds a file stays for Gradio to copy
    files.close()
    kept.close()
    assert list(tmp_path.iterdir()) == []


def test_a_stopped_app_leaves_no_conversation_files(tmp_path):
    """A service manager stops the app with SIGTERM; by Python's default that skipped all clean-up."""
    import os
    import signal
    import subprocess
    import sys
    messages = _messages()
    script = ("import app, json, sys, time\n"
              "app.stop_on_sigterm()\n"
              "files = app.ConversationFiles()\n"
              "print(files(json.loads(sys.argv[1])), flush=True)\n"
              "time.sleep(60)\n")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", script, json.dumps(messages)], cwd=root, env=env,
                            stdout=subprocess.PIPE, text=True)
    written = Path(proc.stdout.readline().strip())
    assert written.parent.parent == tmp_path and written.exists()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert list(tmp_path.iterdir()) == []
