"""The running app with several users at once, failed uploads, wrong passwords and a Chroma server
that dies: gradio_client and plain HTTP against `python app.py` on 127.0.0.1, backed by a real
`chroma run` process. The tests run in file order; the last one kills the Chroma server."""
from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from test_chroma_unreachable import kill, start_chroma
from test_ui_client import _env, _free_port, stop, wait_until_ready

ROOT = Path(__file__).resolve().parents[1]
ART = ROOT / "artifacts" / "ui"
AUTH = ("tester", "s3cret-pw")
KREML = "Wer ist der Sprecher des Kremls?"


@pytest.fixture(scope="module")
def chroma(tmp_path_factory):
    proc, url = start_chroma(tmp_path_factory.mktemp("ui-chroma"))
    yield proc, url
    if proc.poll() is None:
        kill(proc)


@pytest.fixture(scope="module")
def app(tmp_path_factory, chroma):
    ART.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    store = tmp_path_factory.mktemp("many-users") / "store"
    log_path = ART / "app-many-users.log"
    log = open(log_path, "w", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env=_env(RAG_STORE_DIR=str(store), RAG_PORT=str(port), RAG_CHROMA_URL=chroma[1],
                                     RAG_AUTH=f"{AUTH[0]}:{AUTH[1]}"))
    try:
        wait_until_ready(proc, log_path)
        yield port, log_path
    finally:
        stop(proc)
        log.close()


@pytest.fixture(scope="module")
def clients(app):
    from gradio_client import Client

    return [Client(f"http://127.0.0.1:{app[0]}", auth=AUTH, verbose=False, download_files=False)
            for _ in range(4)]


def test_questions_from_several_users_run_at_the_same_time(clients):
    """Four users ask at once: the app works on more than one of them at a time (with one shared
    slot, the others would wait in the queue until the first is done)."""
    from gradio_client.utils import Status

    jobs = [c.submit(KREML, api_name="/ask") for c in clients]
    most = 0
    while not all(j.done() for j in jobs):
        most = max(most, sum(j.status().code == Status.PROCESSING for j in jobs))
        time.sleep(0.01)
    results = [j.result() for j in jobs]
    assert all("Peskow" in r["answer"] for r in results)
    assert most >= 2, "the questions were answered strictly one after another"


def test_lists_and_info_answer_while_others_ask(clients):
    errors, results = [], []

    def user(c, i):
        try:
            for _ in range(3):
                if i % 2:
                    results.append(c.predict(KREML, api_name="/ask")["answer"])
                else:
                    results.append(len(c.predict(api_name="/articles")))
                    results.append(c.predict(api_name="/info")["chunks"])
        except Exception as e:  # noqa: BLE001  (any error fails the test)
            errors.append(e)

    threads = [threading.Thread(target=user, args=(c, i)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 2 * 3 + 2 * 2 * 3
    assert all("Peskow" in r for r in results if isinstance(r, str))


def test_mixed_good_and_empty_upload_through_gradio_client(app, clients, tmp_path):
    """With gradio_client's default of downloading files in results, a report entry that looks like
    a file (a dict with a `path`) makes the call fail although the good file was stored."""
    from gradio_client import Client, handle_file

    good = tmp_path / "leuchtturm.txt"
    good.write_text("Neuer Leuchtturm auf Helgoland eingeweiht\n\nAuf Helgoland ist am Freitag ein neuer "
                    "Leuchtturm in Betrieb gegangen. Er ist 42 Meter hoch und wurde von der Ingenieurin "
                    "Frauke Möllenbeck entworfen.\n", encoding="utf-8")
    empty = tmp_path / "leer.txt"
    empty.write_text("", encoding="utf-8")
    downloading = Client(f"http://127.0.0.1:{app[0]}", auth=AUTH, verbose=False,
                         download_files=str(tmp_path / "downloads"))
    summary, report = downloading.predict([handle_file(str(good)), handle_file(str(empty))], api_name="/upload")
    assert "1 added" in summary and "1 failed" in summary
    assert [Path(p).name for p in report["added"]] == ["leuchtturm.txt"]
    assert [Path(f["file"]).name for f in report["failed"]] == ["leer.txt"] and report["failed"][0]["reason"]
    names = [Path(a["source"]).name for a in clients[1].predict(api_name="/articles")]
    assert "leuchtturm.txt" in names
    # Deleting something that is not there is reported, not raised.
    summary, report = downloading.predict("nicht-da.txt", api_name="/delete")
    assert "1 failed" in summary and report["failed"][0]["file"] == "nicht-da.txt"


def test_junk_and_empty_questions_are_one_log_line_each(clients, app):
    from gradio_client.exceptions import AppError

    for junk, says in (("", "Please type a question"), ("🤔🤔🤔", "Please ask a question in words"),
                       ('{"frage": "wer", "k": [1, 2]}', "Please ask a question in words")):
        with pytest.raises(AppError, match=says):
            clients[2].predict(junk, api_name="/ask")
    log = app[1].read_text(encoding="utf-8")
    assert log.count("ask: Please ask a question in words") == 2
    assert log.count("ask: Please type a question") == 1
    assert "upload: leer.txt refused" in log
    assert "Traceback" not in log


def _login(port: int, password: str, source: str = "127.0.0.1") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    body = urllib.parse.urlencode({"username": AUTH[0], "password": password})
    conn.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
    status = conn.getresponse().status
    conn.close()
    return status


def test_failed_logins_are_rate_limited_per_address(app, clients):
    port = app[0]
    assert _login(port, AUTH[1], source="127.0.0.3") == 200
    assert [_login(port, "wrong") for _ in range(5)] == [400] * 5
    # Blocked now, even with the right password; another address is not.
    assert _login(port, AUTH[1]) == 429
    assert _login(port, AUTH[1], source="127.0.0.2") == 200
    # Users already logged in from the blocked address carry on.
    assert "Peskow" in clients[0].predict(KREML, api_name="/ask")["answer"]


def test_chroma_server_killed_each_action_says_so(clients, chroma, app):
    from gradio_client.exceptions import AppError

    proc, url = chroma
    kill(proc)
    sentence = f"The Chroma server at {url} is unreachable"
    for api in ("/ask", "/info", "/articles"):
        args = (KREML,) if api == "/ask" else ()
        with pytest.raises(AppError, match="is unreachable") as err:
            clients[3].predict(*args, api_name=api)
        assert sentence in str(err.value)
    messages = clients[3].predict(KREML, api_name="/chat")[0]
    assert sentence in str(messages[-1])
    summary, report = clients[3].predict("nicht-da.txt", api_name="/delete")
    assert sentence in summary and report == {}
    log = app[1].read_text(encoding="utf-8")
    assert "Traceback" not in log and "ConnectError" not in log
    assert log.count(sentence) >= 5
