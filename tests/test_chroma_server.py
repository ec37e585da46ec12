"""The same code against a real `chroma run` server on 127.0.0.1."""
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMA = Path(sys.executable).parent / "chroma"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen([str(CHROMA), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("chroma run exited early")
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError("chroma run did not come up within 60 s")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_ingest_and_ask_through_a_chroma_server(make_assistant, chroma_server, tmp_path):
    bot = make_assistant(seed=True, chroma_url=chroma_server, collection="server-test")
    assert not (tmp_path / "store" / "chroma").exists()     # nothing embedded on disk
    assert bot.store.count() > 5
    a = bot.ask("Wer ist der Sprecher des Kremls?")
    assert "Peskow" in a.text and a.citations
    again = make_assistant(seed=False, chroma_url=chroma_server, collection="server-test")
    report = again.ingest([again.settings.seeds_dir])
    assert len(report.unchanged) == 5 and report.chunks_added == 0
    ids = again.store.collection.get(include=[])["ids"]
    assert len(ids) == len(set(ids))


def test_unreachable_server_is_a_clear_error(make_assistant):
    from rag import RagError

    with pytest.raises(RagError, match="is unreachable"):
        make_assistant(seed=False, chroma_url=f"http://127.0.0.1:{free_port()}")
