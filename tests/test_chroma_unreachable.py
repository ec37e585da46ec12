"""A Chroma server that is down or dies mid-ingest: one clear sentence, never a traceback (a real
`chroma run` process that the test kills)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT

CHROMA = Path(sys.executable).parent / "chroma"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_chroma(data: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([str(CHROMA), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/api/v2/heartbeat", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("chroma run exited early")
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("chroma run did not come up within 60 s")


def kill(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(timeout=20)


@pytest.fixture
def chroma(tmp_path):
    proc, url = start_chroma(tmp_path / "chroma-data")
    yield proc, url
    if proc.poll() is None:
        kill(proc)


def test_server_killed_mid_ingest_is_one_clear_error(make_assistant, chroma, tmp_path):
    from rag.results import StoreUnreachable

    proc, url = chroma
    bot = make_assistant(seed=False, chroma_url=url, collection="killed-mid-ingest")
    seen = []

    def progress(done, total, message):
        seen.append(message)
        if done == 2:
            kill(proc)   # the server dies while files are still being read and embedded

    with pytest.raises(StoreUnreachable) as err:
        bot.ingest([bot.settings.seeds_dir], progress=progress)
    assert str(err.value).startswith(f"The Chroma server at {url} is unreachable")
    assert len(seen) >= 2
    for call in (lambda: bot.ask("Wer ist der Sprecher des Kremls?"), bot.articles,
                 lambda: bot.remove(["x.txt"]), bot.info):
        with pytest.raises(StoreUnreachable, match="is unreachable"):
            call()


def _cli(*args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def test_cli_says_the_server_is_unreachable_with_exit_code_3(chroma, tmp_path):
    proc, url = chroma
    kill(proc)
    for args in (["ask", "Wer ist der Sprecher des Kremls?"], ["ingest", str(ROOT / "seeds")], ["articles"]):
        r = _cli(*args, "--chroma-url", url, "--store", str(tmp_path / "store"))
        assert r.returncode == 3, (args, r.stderr)
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert lines == [f"Error: The Chroma server at {url} is unreachable; start it (chroma run) or check "
                         f"RAG_CHROMA_URL / --chroma-url, then try again."], r.stderr
