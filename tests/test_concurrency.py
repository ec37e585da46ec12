"""The library used by many threads at once, and by two writer processes on one store (real model,
real Chroma, real threads and processes; nothing here asserts a duration)."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import ROOT

KREML = "Wer ist der Sprecher des Kremls?"
TOWNS = ["Husum", "Passau", "Görlitz", "Lindau", "Wismar", "Coburg", "Aurich", "Bautzen", "Goslar", "Kempten",
         "Stralsund", "Landshut"]


def gnad_articles(folder: Path, n: int, skip: int = 0) -> list[Path]:
    """n short local-news articles as .txt files, distinct per town (a headline, three paragraphs)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, town in enumerate(TOWNS[skip:skip + n], skip):
        path = folder / f"article_{i:03d}.txt"
        path.write_text(
            f"Gewerkschaft und Stadtwerke {town} einigen sich auf neuen Tarifvertrag\n\n"
            f"Nach drei Verhandlungsrunden haben sich die Gewerkschaft und die Stadtwerke {town} auf einen "
            f"neuen Tarifvertrag geeinigt. Die Gehälter steigen um {i + 2} Prozent, die Laufzeit beträgt "
            f"{i + 12} Monate.\n\nDer Betriebsrat in {town} sprach von einem fairen Kompromiss. Die "
            f"Geschäftsführung betonte, der Vertrag sichere {100 + i * 7} Arbeitsplätze in der Region.\n\n"
            f"Die Vereinbarung muss noch vom Aufsichtsrat der Stadtwerke {town} bestätigt werden.\n",
            encoding="utf-8")
        out.append(path)
    return out


def test_asks_in_threads_while_ingesting_and_deleting(make_assistant, tmp_path):
    bot = make_assistant(seed=True)
    before = bot.ask(KREML)
    assert "Peskow" in before.text
    extra = gnad_articles(tmp_path / "extra", 12)
    errors: list[BaseException] = []
    answers: list[str] = []

    def write():
        try:
            for _ in range(2):
                bot.ingest([tmp_path / "extra"])
                bot.remove([str(p) for p in extra[:6]])
        except BaseException as e:  # noqa: BLE001  (any exception fails the test)
            errors.append(e)

    def asker():
        try:
            n = 0
            while writer.is_alive() or n < 3:
                answers.append(bot.ask(KREML).text)
                bot.search("Gewerkschaft Vertrag Gehalt", k=3, mode="lexical")
                bot.articles()
                n += 1
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    writer = threading.Thread(target=write)
    writer.start()
    askers = [threading.Thread(target=asker) for _ in range(3)]
    for t in askers:
        t.start()
    writer.join()
    for t in askers:
        t.join()
    assert not errors, errors
    assert answers and all("Peskow" in a for a in answers)
    # The BM25 index and Chroma agree afterwards: nothing lost or duplicated by the interleaving.
    inner = getattr(bot.store, "inner", bot.store)   # the unguarded store
    assert inner.lexical.ids() == inner.all_ids()
    assert {Path(s).name for s in bot.store.sources()} >= {p.name for p in extra[6:]}


def test_a_search_waits_for_a_store_write_but_not_for_embedding(make_assistant, tmp_path):
    """While an ingest updates the BM25 postings, a search does not read them half-written; while
    the same ingest embeds (the slow part), searches go on."""
    bot = make_assistant(seed=True)
    extra = gnad_articles(tmp_path / "extra", 2)
    inner_lexical = getattr(bot.store, "inner", bot.store).lexical
    in_write, release_write = threading.Event(), threading.Event()
    in_embed, release_embed = threading.Event(), threading.Event()
    real_apply, real_passages = inner_lexical.apply, bot.embedder.passages

    def slow_apply(upserts, removals=()):
        real_apply(upserts, removals)
        # Only the write of the new chunks (after they were embedded); the catch-up with Chroma
        # that starts every write applies changes too.
        if upserts and in_embed.is_set() and not in_write.is_set():
            in_write.set()
            release_write.wait(120)

    def slow_passages(texts, *a, **kw):
        if not in_embed.is_set():
            in_embed.set()
            release_embed.wait(120)
        return real_passages(texts, *a, **kw)

    inner_lexical.apply = slow_apply
    bot.embedder.passages = slow_passages
    try:
        ingest = threading.Thread(target=bot.ingest, args=([str(p) for p in extra],))
        ingest.start()
        assert in_embed.wait(120)
        # Embedding in progress: a search answers.
        assert bot.search(KREML, k=3, mode="lexical")
        release_embed.set()
        assert in_write.wait(120)
        done = threading.Event()
        found: list = []
        searcher = threading.Thread(target=lambda: (found.extend(bot.search(KREML, k=3, mode="lexical")),
                                                    done.set()))
        searcher.start()
        # The write is paused inside the BM25 update: the search must not have run.
        assert not done.wait(3), "a BM25 search ran while an ingest was changing the postings"
        release_write.set()
        ingest.join(120)
        searcher.join(120)
        assert done.is_set() and found
    finally:
        release_embed.set()
        release_write.set()
        del bot.embedder.passages   # the session-wide embedder gets its method back


def _cli(*args, env_extra: dict | None = None, timeout: int = 600):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_a_second_writer_process_waits_or_gets_a_clear_sentence(make_assistant, tmp_path):
    """The app (this process) holds the store's write lock; a CLI ingest into the same embedded store
    waits, and after RAG_WRITE_LOCK_WAIT seconds says so in one sentence without writing."""
    bot = make_assistant(seed=True)
    extra = gnad_articles(tmp_path / "extra", 2)
    store = str(bot.settings.store_dir)
    count = bot.store.count()
    import fasteners

    with fasteners.InterProcessLock(str(Path(store) / "write.lock")):
        r = _cli("ingest", "--store", store, str(tmp_path / "extra"), env_extra={"RAG_WRITE_LOCK_WAIT": "2"})
    assert r.returncode == 2, r.stderr
    assert "Another process is writing to the store" in r.stderr
    assert "Traceback" not in r.stderr
    assert bot.store.count() == count
    # Once the lock is free, the same command writes.
    r = _cli("ingest", "--store", store, str(tmp_path / "extra"))
    assert r.returncode == 0, r.stderr
    assert {Path(s).name for s in bot.store.sources()} >= {p.name for p in extra}
    # The app's next write first takes in what the CLI wrote: its saved BM25 index keeps those chunks.
    bot.remove(["not-stored.txt"])
    inner = getattr(bot.store, "inner", bot.store)
    assert inner.lexical.ids() == inner.all_ids()
    from rag.lexical import BM25Index

    assert BM25Index(inner.lexical.path).ids() == inner.all_ids()


def test_two_cli_writers_on_one_store_take_turns(tmp_path):
    """Two ingests started together into one new embedded store: both succeed, nothing duplicated."""
    a = gnad_articles(tmp_path / "a", 4)
    b = gnad_articles(tmp_path / "b", 4, skip=4)
    store = str(tmp_path / "store")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    procs = [subprocess.Popen([sys.executable, "-m", "rag", "ingest", "--store", store, "--json", str(folder)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for folder in (tmp_path / "a", tmp_path / "b")]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    r = _cli("articles", "--store", store, "--json", "--no-seed")
    assert r.returncode == 0, r.stderr
    import json

    names = sorted(Path(row["source"]).name for row in json.loads(r.stdout))
    assert names == sorted(p.name for p in a + b)


def test_an_llm_answer_in_flight_blocks_no_other_question(seeded):
    """The LLM server holds the first answer; meanwhile an extractive answer over the same store and
    a second LLM answer both finish (real HTTP server on 127.0.0.1)."""
    from scripted_llm import ScriptedLLM, llm_bot as scripted_bot, obedient_model

    started, release = threading.Event(), threading.Event()

    def responder(request, index):
        if index == 0:
            started.set()
            release.wait(120)
        return obedient_model(request, index)

    with ScriptedLLM(responder) as server:
        llm_bot = scripted_bot(seeded, server.url, llm_timeout=150.0)
        first: list = []
        held = threading.Thread(target=lambda: first.append(llm_bot.ask(KREML)))
        held.start()
        try:
            assert started.wait(120)
            extractive = seeded.ask("Wo hat Kim Jong-un Lawrow empfangen?")
            second = llm_bot.ask("Wer hat Lawrow in Nordkorea empfangen?")
            assert held.is_alive() and not first, "the first LLM answer was not held"
            assert extractive.mode == "extractive" and not extractive.abstained
            assert second.mode.startswith("llm") and second.text
        finally:
            release.set()
            held.join(180)
        assert first and first[0].mode.startswith("llm")


# Each process imports everything first, then opens the store at the same moment.
_OPEN_STORE = ("import sys, time; from rag.settings import Settings; from rag.store import ChunkStore; "
               "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); "
               "ChunkStore(Settings.from_env(store_dir=sys.argv[1]), 'e5-small')")


def test_processes_opening_a_new_store_at_once_all_succeed(tmp_path):
    """Two CLI ingests into one new store once failed with Chroma's "table collections already
    exists": creating the store's tables raced. Eight processes open a fresh store together, in
    six rounds (before the fix the race hit about every second round)."""
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    for round_ in range(6):
        store, start = str(tmp_path / f"store{round_}"), time.time() + 8
        procs = [subprocess.Popen([sys.executable, "-c", _OPEN_STORE, store, str(start)], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(8)]
        outs = [p.communicate(timeout=300) for p in procs]
        failed = [err.strip().splitlines()[-1] for (_, err), p in zip(outs, procs) if p.returncode]
        assert not failed, f"round {round_}: {failed}"
