"""The app's public API, used the way a script would: gradio_client against the running app.

The app runs as a real process with RAG_AUTH set, so the same run proves that a password is asked
for. Binding checks (loopback by default, no public address without a password) are tested on the
configuration itself and on a start that must refuse; nothing here ever binds a non-loopback address.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ART = ROOT / "artifacts" / "ui"
AUTH = ("tester", "s3cret-pw")
STORE: dict = {}   # the running app's store directory
STABLE_ENDPOINTS = {"/ask", "/chat", "/clear", "/upload", "/delete", "/articles", "/info", "/feedback"}

ARTICLE = """Neuer Leuchtturm auf Helgoland eingeweiht

Auf Helgoland ist am Freitag ein neuer Leuchtturm in Betrieb gegangen. Den neuen Leuchtturm auf Helgoland hat die Ingenieurin Frauke Möllenbeck entworfen; er ist 42 Meter hoch. Sein Licht reicht 28 Seemeilen weit.
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_ready(proc: subprocess.Popen, log_path: Path, timeout: float = 600) -> None:
    """Until app.py logs "Chat ready"; the test fails with its log if it exits or takes longer."""
    deadline = time.time() + timeout
    while "Chat ready" not in log_path.read_text(encoding="utf-8"):
        if proc.poll() is not None or time.time() > deadline:
            pytest.fail(f"app.py did not start:\n{log_path.read_text(encoding='utf-8')}")
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    """Stop app.py as a service manager does (SIGTERM), killed if it does not end in 20 s."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", ANONYMIZED_TELEMETRY="False",
               PYTHONUNBUFFERED="1", **extra)
    return env


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    ART.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    store = STORE["dir"] = tmp_path_factory.mktemp("client-store") / "store"
    log_path = ART / "app-client.log"
    log = open(log_path, "w", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env=_env(RAG_STORE_DIR=str(store), RAG_PORT=str(port),
                                     RAG_AUTH=f"{AUTH[0]}:{AUTH[1]}"))
    try:
        wait_until_ready(proc, log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
        log.close()


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app, auth=AUTH, verbose=False, download_files=False)


def test_api_names_are_published(client):
    api = client.view_api(print_info=False, return_format="dict")
    endpoints = api["named_endpoints"]
    # The "Use via API" page lists exactly the stable endpoints; internal events stay private.
    assert set(endpoints) == STABLE_ENDPOINTS and not api["unnamed_endpoints"]
    params = [p["parameter_name"] for p in endpoints["/ask"]["parameters"]]
    assert params == ["question", "history", "lang", "k", "outlet", "date_from", "date_to"]


def test_ask_returns_answer_with_citations_and_passages(client):
    result = client.predict(question="Wer ist der Sprecher des Kremls?", api_name="/ask")
    assert result["language"] == "de" and not result["abstained"]
    assert "[1]" in result["answer"]
    first = result["citations"][0]
    assert first["n"] == 1 and first["source"].endswith(".txt")
    cited = [p for p in result["passages"] if p["chunk_id"] == first["chunk_id"]]
    assert cited and first["quote"] in cited[0]["text"]


def test_ask_options_and_history(client):
    result = client.predict(question="Wer ist der Sprecher des Kremls?", lang="en", k=2,
                            history=[["Hallo", "Hallo!"]], api_name="/ask")
    assert result["language"] == "en"
    assert len(result["passages"]) <= 2


@pytest.mark.parametrize("kwargs,message", [
    (dict(question=""), "Please type a question."),
    (dict(question="Wer?", date_from="2024-02-30"), "is not a date like 2024-05-31"),
    (dict(question="Wer?", date_from="2024-05-02", date_to="2024-01-01"), "The date range is empty"),
    (dict(question="Wer?", lang="fr"), "Unknown answer language"),
])
def test_ask_errors_are_sentences(client, kwargs, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        client.predict(api_name="/ask", **kwargs)
    assert message in str(err.value) and "Traceback" not in str(err.value)


def test_upload_ask_and_delete_an_article(client, tmp_path):
    from gradio_client import handle_file

    path = tmp_path / "helgoland.md"
    path.write_text(ARTICLE, encoding="utf-8")
    summary, report = client.predict(paths=[handle_file(str(path))], api_name="/upload")
    assert summary.startswith("1 added")
    assert [Path(p).name for p in report["added"]] == ["helgoland.md"] and report["chunks_added"] >= 1
    stored = {Path(a["source"]).name: a for a in client.predict(api_name="/articles")}
    assert stored["helgoland.md"]["chunks"] >= 1

    result = client.predict(question="Wer hat den neuen Leuchtturm auf Helgoland entworfen?", api_name="/ask")
    assert "Möllenbeck" in result["answer"]
    assert Path(result["citations"][0]["source"]).name == "helgoland.md"

    summary, report = client.predict(source=stored["helgoland.md"]["source"], api_name="/delete")
    assert summary.startswith("0 added, 0 updated, 0 unchanged, 1 removed")
    assert "helgoland.md" not in {Path(a["source"]).name for a in client.predict(api_name="/articles")}


def test_upload_refuses_other_file_types(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    bad = tmp_path / "report.pdf"
    bad.write_bytes(b"%PDF-1.4 not an article")
    with pytest.raises(AppError, match="Invalid file type"):
        client.predict(paths=[handle_file(str(bad))], api_name="/upload")


def test_chat_endpoint_streams_the_page_output(client):
    job = client.submit(message="Wer ist der Sprecher des Kremls?", api_name="/chat")
    messages, sources, textbox = job.result(timeout=120)   # the conversation State is not exposed
    assert textbox == ""
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert 'class="rag-cite"' in str(messages[-1]["content"])
    assert "<mark" in sources


def test_info_shows_mode(client):
    info = client.predict(api_name="/info")
    assert info["mode"] and "chunks" in info


def test_password_is_required(app):
    from gradio_client import Client

    for path, body in (("/config", None), ("/gradio_api/info", None),
                       ("/gradio_api/call/ask", b'{"data": ["Wer?"]}')):
        req = urllib.request.Request(app + path, data=body, headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 401, path
    with pytest.raises(Exception, match="(?i)login|credentials"):
        Client(app, auth=(AUTH[0], "wrong"), verbose=False)


# --- binding policy ---------------------------------------------------------------------------
def test_public_address_without_password_refuses_to_start():
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env=_env(RAG_HOST="0.0.0.0", RAG_PORT=str(_free_port())))
    assert run.returncode == 2
    assert "Refusing to serve on 0.0.0.0 without a password" in run.stderr
    assert "RAG_AUTH=user:password" in run.stderr and "--insecure-no-auth" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert time.perf_counter() - started < 30     # refused before loading any model


def test_busy_port_fails_fast_with_a_sentence():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.perf_counter()
        run = subprocess.run([sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True,
                             timeout=60, env=_env(RAG_PORT=str(port)))
    assert run.returncode == 1
    assert f"Cannot serve on 127.0.0.1:{port}" in run.stderr and "set RAG_PORT" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert time.perf_counter() - started < 30     # before loading any model


def test_server_config_rules():
    from app import ConfigError, server_config

    assert server_config({}, []).host == "127.0.0.1" and server_config({}, []).port == 7860
    assert server_config({"RAG_PORT": "8123"}, []).port == 8123
    assert server_config({"RAG_HOST": "::1"}, []).auth is None
    assert server_config({"RAG_HOST": "localhost"}, []).auth is None
    assert server_config({"RAG_HOST": "0.0.0.0", "RAG_AUTH": "a:b"}, []).auth == ("a", "b")
    assert server_config({"RAG_HOST": "0.0.0.0", "RAG_ALLOW_NO_AUTH": "1"}, []).auth is None
    assert server_config({"RAG_HOST": "192.168.1.5"}, ["--insecure-no-auth"]).host == "192.168.1.5"
    assert server_config({}, ["--host", "127.0.0.2", "--port", "9000"]).port == 9000
    for env in ({"RAG_HOST": "0.0.0.0"}, {"RAG_HOST": "example.org"}, {"RAG_AUTH": "nopassword"},
                {"RAG_AUTH": ":pw"}, {"RAG_PORT": "http"}, {"RAG_PORT": "70000"}):
        with pytest.raises(ConfigError):
            server_config(env, [])


def test_feedback_is_appended_to_the_store_and_exported(client):
    import json

    answer = client.predict(question="Wer ist der Sprecher des Kremls?", api_name="/ask")
    stored = client.predict(rating="down", question="Wer ist der Sprecher des Kremls?", answer=answer,
                            api_name="/feedback")
    assert stored["rating"] == "down" and stored["answer"] == answer["answer"] and stored["time"]
    assert stored["sources"][0]["quote"] == answer["citations"][0]["quote"]
    lines = (STORE["dir"] / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1]) == stored
    with pytest.raises(Exception, match="must be one of up, down"):
        client.predict(rating="meh", question="?", answer=answer, api_name="/feedback")
    assert len((STORE["dir"] / "feedback.jsonl").read_text(encoding="utf-8").splitlines()) == len(lines)
    out = subprocess.run([sys.executable, "-m", "rag", "feedback", "export"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env=_env(RAG_STORE_DIR=str(STORE["dir"])))
    assert out.returncode == 0, out.stderr
    assert [json.loads(line) for line in out.stdout.splitlines()][-1] == stored


def test_a_stopped_app_leaves_no_uploaded_copies_behind(tmp_path):
    """Gradio keeps a copy of every upload in its cache. A service manager stops the app with SIGTERM,
    which by Python's default ended it with no clean-up: a deleted article's text stayed on disk."""
    import signal

    from gradio_client import Client, handle_file

    port, cache, temp = _free_port(), tmp_path / "gradio-cache", tmp_path / "tmp"
    temp.mkdir()
    log_path = tmp_path / "app.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env=_env(RAG_STORE_DIR=str(tmp_path / "store"), RAG_PORT=str(port),
                                         GRADIO_TEMP_DIR=str(cache), TMPDIR=str(temp)))
        try:
            wait_until_ready(proc, log_path)
            article = tmp_path / "helgoland.md"
            article.write_text(ARTICLE, encoding="utf-8")
            client = Client(f"http://127.0.0.1:{port}", verbose=False, download_files=False)
            summary, _ = client.predict(paths=[handle_file(str(article))], api_name="/upload")
            assert summary.startswith("1 added")
            assert [p.name for p in cache.rglob("helgoland.md")] == ["helgoland.md"]   # Gradio's copy
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "Stopped." in log_path.read_text(encoding="utf-8")
    assert [p for p in cache.rglob("*") if p.is_file() and p.stat().st_size] == []
    assert list(temp.iterdir()) == []
