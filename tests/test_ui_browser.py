"""End to end: `python app.py` as a real process on a fresh store, driven by headless Chromium.

Debian's chromium (installed by scripts/install-test-deps.sh) is driven by Playwright; screenshots
and measured timings go to artifacts/ui/. Nothing here is mocked: the real model answers.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ART = ROOT / "artifacts" / "ui"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ANSWER_TIMEOUT_MS = 120_000
TIMINGS: dict = {"answers_s": {}}
STORE: dict = {}   # the running app's store directory

# The last bubble is finished when it is an error, or when the sources panel shows its turn.
ANSWER_DONE_JS = """n => {
  const b = document.querySelectorAll('#chat .rag-answer, #chat .rag-error');
  if (b.length < n) return false;
  const last = b[b.length - 1];
  if (last.classList.contains('rag-error')) return true;
  const t = [...last.classList].find(c => c.startsWith('rag-turn-'));
  const s = document.querySelector('#sources .rag-sources');
  return !!(t && s && s.dataset.turn === t.slice('rag-turn-'.length));
}"""

KLEINWALDE = """Kleinwalde wählt erstmals eine Bürgermeisterin

Die Gemeinde Kleinwalde im Landkreis Uckermark hat am Sonntag Hannelore Quast zur neuen Bürgermeisterin gewählt.
Die parteilose Apothekerin erhielt 62 Prozent der Stimmen, die Wahlbeteiligung lag bei 48 Prozent.
Quast will sich nach eigenen Angaben zuerst um den Bau einer neuen Grundschule kümmern.
"""

# Every way article text could try to run code in the page: raw tags, attributes, Markdown links,
# KaTeX, Gradio template syntax; in a .txt body, in .md front matter (title/outlet/url) and as
# escaped text inside an .html article (which the loader turns back into literal tags).
PAYLOAD_FILES = {
    "zoobruecke.txt": """Neue Zoobrücke in Entenhausen <img src=x onerror="window.__pwned=(window.__pwned||0)+1;alert('xss-title')">

Der Bürgermeister von Entenhausen eröffnete am Montag die neue Zoobrücke über den Gänsefluss <script>window.__pwned=(window.__pwned||0)+1;alert('xss-script')</script> vor rund dreitausend Gästen.
Die Brücke kostete nach Angaben der Stadt zwölf Millionen Euro <img src=x onerror="window.__pwned=(window.__pwned||0)+1;alert('xss-img')"> und verbindet den Zoo mit der Altstadt.
Kritiker bemängelten die lange Bauzeit der Zoobrücke [mehr](javascript:window.__pwned=1) und ${window.__pwned=1} sowie {{constructor.constructor('window.__pwned=1')()}} und $$\\href{javascript:alert(1)}{x}$$.
<svg onload="window.__pwned=1"></svg><iframe srcdoc="<script>parent.__pwned=1</script>"></iframe> Die Eröffnungsfeier endete mit einem Feuerwerk über dem Gänsefluss.
""",
    "faehre.md": """---
title: Gänsefluss-Fähre <img src=x onerror="window.__pwned=1;alert('xss-md-title')">
outlet: Entenhausener <b onmouseover="window.__pwned=1">Kurier</b>
date: 2024-05-02
url: javascript:window.__pwned=1
---
# Die Gänsefluss-Fähre stellt den Betrieb ein

Nach der Eröffnung der Zoobrücke stellt die Gänsefluss-Fähre <script>window.__pwned=1;alert('xss-md')</script> ihren Betrieb zum Monatsende ein, teilte der Fährmann Gustav Gans mit.
""",
    "faehrmann.html": """<html><head><title>Entenhausen</title>
<meta property="og:site_name" content="Gänse&lt;img src=x onerror=window.__pwned=1&gt;post"></head>
<body><article><h1>Fährmann Gustav Gans &lt;img src=x onerror="window.__pwned=1"&gt; geht in Rente</h1>
<p>Der Fährmann Gustav Gans &lt;script&gt;window.__pwned=1;alert('xss-html')&lt;/script&gt; geht nach vierzig Jahren auf dem Gänsefluss in den Ruhestand.</p>
<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">
</article></body></html>
""",
    '"><img src=x onerror=alert(9)>.txt': "Eine Notiz über den Gänsefluss in Entenhausen, deren Dateiname selbst ein Angriff ist.\n",
}
PAYLOAD_QUESTIONS = [
    "Wann eröffnete der Bürgermeister die Zoobrücke in Entenhausen?",
    "Was kostete die Brücke über den Gänsefluss?",
    "Was bemängelten die Kritiker an der Zoobrücke?",
    "Wann stellt die Gänsefluss-Fähre ihren Betrieb ein?",
    "Wer ist der Fährmann Gustav Gans?",
    'Was ist <img src=x onerror="window.__pwned=1;alert(\'xss-question\')"> in Entenhausen?',
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/install-test-deps.sh` (installs Debian's chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def app(browser, tmp_path_factory):
    """The real app on a fresh store (seeds ingested on first start) at a free 127.0.0.1 port."""
    ART.mkdir(parents=True, exist_ok=True)
    store = STORE["dir"] = tmp_path_factory.mktemp("ui-store") / "store"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}   # the embedded default
    env.update(RAG_STORE_DIR=str(store), RAG_PORT=str(port), HF_HUB_OFFLINE="1",
               GRADIO_ANALYTICS_ENABLED="False", ANONYMIZED_TELEMETRY="False", PYTHONUNBUFFERED="1")
    log_path = ART / "app.log"
    log = open(log_path, "w", encoding="utf-8")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 600
        while "Chat ready" not in log_path.read_text(encoding="utf-8"):
            if proc.poll() is not None:
                pytest.fail(f"app.py exited with {proc.returncode}:\n{log_path.read_text(encoding='utf-8')}")
            if time.time() > deadline:
                pytest.fail(f"app.py not ready after 600 s:\n{log_path.read_text(encoding='utf-8')}")
            time.sleep(0.2)
        TIMINGS["server_ready_s"] = round(time.perf_counter() - t0, 2)
        page = browser.new_page()
        page.goto(url)
        page.locator("#question textarea").wait_for(state="visible", timeout=60_000)
        from playwright.sync_api import expect

        expect(page.locator("#question textarea")).to_be_enabled()
        TIMINGS["cold_start_to_usable_page_s"] = round(time.perf_counter() - t0, 2)
        page.close()
        log_text = log_path.read_text(encoding="utf-8")
        # Progress while loading is visible in the log, and the URL is printed.
        assert "ingesting 5/5" in log_text and url in log_text
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        (ART / "timings.json").write_text(json.dumps(TIMINGS, indent=2), encoding="utf-8")


@pytest.fixture
def page(browser, app):
    """A fresh tab on the loaded app that records dialogs, console output and every request."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.dialogs, pg.console, pg.requests = [], [], []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.on("console", lambda m: pg.console.append(m.text))
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.goto(app)
    pg.locator("#question textarea").wait_for(state="visible", timeout=60_000)
    yield pg
    context.close()
    # Analytics off, no CDNs, no web fonts: the page talks to the app and nothing else.
    foreign = [u for u in pg.requests if not u.startswith((app, "data:", "blob:"))]
    assert foreign == []


def ask(page, question: str, record: str | None = None):
    """Type a question, press Enter, wait until the answer and its sources are shown."""
    bubbles = page.locator("#chat .rag-answer, #chat .rag-error")
    n = bubbles.count()
    box = page.locator("#question textarea")
    box.fill(question)
    t0 = time.perf_counter()
    box.press("Enter")
    page.wait_for_function(ANSWER_DONE_JS, arg=n + 1, timeout=ANSWER_TIMEOUT_MS)
    elapsed = time.perf_counter() - t0
    TIMINGS["answers_s"][record or question] = round(elapsed, 2)
    return bubbles.last


def turn_of(bubble) -> int:
    cls = bubble.get_attribute("class") or ""
    return int(re.search(r"rag-turn-(\d+)", cls).group(1))


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def upload(page, paths: list[Path]) -> str:
    open_tab(page, "Articles")
    before = page.locator("#report textarea").input_value()
    page.locator("#upload input[type=file]").set_input_files([str(p) for p in paths])
    page.wait_for_function(
        "before => { const t = document.querySelector('#report textarea'); "
        "return t && t.value && t.value !== before && t.value.includes('added'); }",
        arg=before, timeout=ANSWER_TIMEOUT_MS)
    return page.locator("#report textarea").input_value()


def test_german_question_gets_answer_with_marker_and_highlighted_source(page):
    from playwright.sync_api import expect

    answer = ask(page, "Wer ist der Sprecher des Kremls?", record="de: Wer ist der Sprecher des Kremls?")
    turn = turn_of(answer)
    marker = answer.locator("a.rag-cite", has_text="[1]")
    expect(marker).to_have_count(1)
    card = page.locator(f"#sources #src-{turn}-1")
    expect(card).to_be_visible()
    mark = card.locator("mark.rag-quote").first
    expect(mark).to_be_visible()
    quote = mark.inner_text().strip()
    assert len(quote) > 20
    # The default (extractive) answer quotes the marked passage verbatim.
    assert " ".join(quote.split()) in " ".join(answer.inner_text().split())
    meta = card.locator(".rag-meta").inner_text()
    assert re.search(r"Datei: \S+\.txt", meta)
    assert card.locator(".rag-title").inner_text().strip()
    expect(page.locator("#sources .rag-lang")).to_have_attribute("data-lang", "de")
    page.screenshot(path=str(ART / "01-german-answer.png"))

    # Narrow window: the panel stacks below the chat; clicking [1] must bring source 1 into view.
    page.set_viewport_size({"width": 640, "height": 700})
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    expect(card).not_to_be_in_viewport()
    marker.click()
    expect(card).to_be_in_viewport()
    assert "rag-flash" in (card.get_attribute("class") or "")
    assert page.url.rstrip("/") == page.url.split("#")[0].rstrip("/")   # stayed on the page
    page.screenshot(path=str(ART / "02-marker-scrolled-to-source.png"))
    page.set_viewport_size({"width": 1280, "height": 900})

    # A follow-up goes out with the conversation: the assistant searches for a standalone
    # question built from it, and the panel shows what was searched. "New chat" starts over.
    follow_up = "Und was hat er über einen Besuch Putins gesagt?"
    follow = ask(page, follow_up, record="de follow-up")
    assert turn_of(follow) > turn
    expect(page.locator("#chat .rag-question")).to_have_count(2)
    searched = page.locator("#sources .rag-searched q")
    expect(searched).to_be_visible()
    assert len(searched.inner_text()) > len(follow_up)
    page.locator("#clear").click()
    expect(page.locator("#chat .rag-question")).to_have_count(0)
    expect(page.locator("#sources .rag-empty")).to_be_visible()


def test_english_question_gets_english_answer_and_language_can_be_overridden(page):
    from playwright.sync_api import expect

    from rag.language import detect

    answer = ask(page, "Which Russian minister travelled to North Korea?", record="en: Which Russian minister ...")
    expect(page.locator("#sources .rag-lang")).to_have_attribute("data-lang", "en")
    expect(page.locator("#sources .rag-panel-head")).to_contain_text("English (auto-detected)")
    expect(answer.locator("a.rag-cite").first).to_be_visible()
    # After the German quote, its words in English, set apart (the chat's sanitizer keeps the class).
    expect(answer.locator("span.rag-gloss").first).to_contain_text("word for word")
    # The words the bot writes itself (everything before the first quotation) are English;
    # the quotes are the German articles' own words.
    framing = re.split(r"[„“\"]", answer.inner_text(), maxsplit=1)[0]
    assert detect(framing) == "en", framing
    page.screenshot(path=str(ART / "03-english-answer.png"))

    open_tab(page, "Settings")
    expect(page.locator("#info")).to_contain_text("extractive")   # answer mode shown
    page.locator("#lang label", has_text="English").click()
    open_tab(page, "Chat")
    ask(page, "Wer ist der Sprecher des Kremls?", record="de question, English chosen")
    expect(page.locator("#sources .rag-lang")).to_have_attribute("data-lang", "en")
    expect(page.locator("#sources .rag-panel-head")).to_contain_text("chosen in Settings")


def test_upload_article_answer_from_it_then_delete_it(page, tmp_path):
    from playwright.sync_api import expect

    article = tmp_path / "kleinwalde.txt"
    article.write_text(KLEINWALDE, encoding="utf-8")
    report = upload(page, [article])
    assert report.startswith("1 added") and "0 failed" in report
    expect(page.locator("#articles-table")).to_contain_text("kleinwalde.txt")
    expect(page.locator("#articles-table")).to_contain_text("Kleinwalde wählt erstmals eine Bürgermeisterin")
    page.screenshot(path=str(ART / "04-articles-after-upload.png"), full_page=True)

    open_tab(page, "Chat")
    answer = ask(page, "Wer wurde zur Bürgermeisterin von Kleinwalde gewählt?", record="de: uploaded article")
    turn = turn_of(answer)
    assert "Hannelore Quast" in answer.inner_text()
    expect(page.locator(f"#sources #src-{turn}-1 .rag-file")).to_contain_text("kleinwalde.txt")
    expect(page.locator(f"#sources #src-{turn}-1 mark.rag-quote")).to_contain_text("Hannelore Quast")
    page.screenshot(path=str(ART / "05-answer-from-upload.png"))

    open_tab(page, "Articles")
    page.locator("#delete-pick input").click()
    page.get_by_role("option", name=re.compile(r"kleinwalde\.txt")).click()
    page.locator("#delete").click()
    page.wait_for_function("() => document.querySelector('#report textarea').value.includes('1 removed')",
                           timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#articles-table")).not_to_contain_text("kleinwalde.txt")
    open_tab(page, "Chat")
    ask(page, "Wer wurde zur Bürgermeisterin von Kleinwalde gewählt?", record="de: after delete")
    expect(page.locator("#sources")).not_to_contain_text("kleinwalde.txt")


def test_script_and_onerror_payloads_in_articles_never_run(page, tmp_path):
    from playwright.sync_api import expect

    paths = []
    for name, text in PAYLOAD_FILES.items():
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        paths.append(p)
    report = upload(page, paths)
    assert "4 added" in report and "0 failed" in report

    open_tab(page, "Chat")
    seen = []
    for q in PAYLOAD_QUESTIONS:
        bubble = ask(page, q, record="payload: " + q[:40])
        seen.append(bubble.inner_text())
        seen.append(page.locator("#sources").inner_text())
    page.screenshot(path=str(ART / "06-payloads-as-text.png"), full_page=True)
    shown = "\n".join(seen) + page.locator("#chat").inner_text()

    open_tab(page, "Articles")
    expect(page.locator("#articles-table")).to_contain_text("<img src=x onerror=")
    page.locator("#delete-pick input").click()
    page.wait_for_timeout(500)
    page.screenshot(path=str(ART / "07-payload-titles-in-articles.png"), full_page=True)
    page.keyboard.press("Escape")
    open_tab(page, "Settings")
    page.locator("#outlet input").click()
    page.wait_for_timeout(500)
    page.keyboard.press("Escape")
    page.wait_for_timeout(1000)   # let any deferred handler (image error, animation) fire

    assert page.dialogs == []
    assert not [m for m in page.console if "pwned" in m.lower() or "xss" in m.lower()]
    assert page.evaluate("() => window.__pwned") is None
    planted = page.evaluate("""() => ({
        handlers: document.querySelectorAll('[onerror], [onload], [onmouseover], iframe[srcdoc]').length,
        images: document.querySelectorAll('img[src="x"]').length,
        scripts: [...document.scripts].filter(s => s.textContent.includes('__pwned')).length,
        jsLinks: [...document.querySelectorAll('a[href]')].filter(a => /^\\s*javascript:/i.test(a.getAttribute('href'))).length,
    })""")
    assert planted == {"handlers": 0, "images": 0, "scripts": 0, "jsLinks": 0}
    # <img src=x> would have requested /x from the app even if its handler had been stripped later.
    assert not [u for u in page.requests if re.search(r"/x(\?|$)", u)]
    # And the payloads did reach the page: as text.
    for literal in ("<script>window.__pwned", "<img src=x onerror=", "${window.__pwned=1}",
                    "{{constructor.constructor(", "[mehr](javascript:", "Entenhausener <b onmouseover="):
        assert literal in shown, literal


def test_errors_are_readable_messages_in_the_chat(page):
    from playwright.sync_api import expect

    open_tab(page, "Settings")
    page.locator("#date-from").locator("textarea, input").first.fill("2024-13-45")
    open_tab(page, "Chat")
    bubble = ask(page, "Wer ist der Sprecher des Kremls?", record="error: bad date")
    expect(bubble).to_have_class(re.compile(r"rag-error"))
    expect(bubble).to_contain_text("The from date '2024-13-45' is not a date like 2024-05-31.")

    open_tab(page, "Settings")
    page.locator("#date-from").locator("textarea, input").first.fill("")
    open_tab(page, "Chat")
    bubble = ask(page, "Warum? " * 400, record="error: too long")
    expect(bubble).to_have_class(re.compile(r"rag-error"))
    expect(bubble).to_contain_text("please keep it under")

    ask(page, "Wer hat die Fußball-Weltmeisterschaft 2014 gewonnen?", record="abstain")
    expect(page.locator("#sources .rag-abstain")).to_contain_text("Keine Antwort in den Artikeln")
    assert page.locator("#sources .rag-context").count() >= 1
    page.screenshot(path=str(ART / "08-errors-and-abstention.png"))
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and 'File "' not in body


def test_copy_rate_and_download_an_answer(page, app):
    from playwright.sync_api import expect

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app)
    answer = ask(page, "Wer ist der Sprecher des Kremls?", record="de: copy, rate, download")
    # Copy: plain text with the [n] markers and a source list, no HTML or entities.
    page.locator("#chat button.rag-copy").last.click()
    expect(page.locator("#chat button.rag-copy").last).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    shown = " ".join(answer.inner_text().split())
    # The copy keeps the answer's paragraphs; the page shows them as lines.
    assert " ".join(copied.split()).startswith(shown.split("[1]")[0].strip()) and "[1]" in copied
    assert copied.startswith("Dmitri Peskow.\n\nLaut [1]: ")
    assert "\nQuellen:\n[1] " in copied and "seeds/" in copied
    assert "<" not in copied and "&#" not in copied

    # Thumbs down: one JSON line in the store with the question, answer, sources and time.
    feedback = STORE["dir"] / "feedback.jsonl"
    before = feedback.read_text(encoding="utf-8").count("\n") if feedback.exists() else 0
    page.locator("#chat button[aria-label='Dislike']").last.click()
    page.wait_for_function("() => true")   # let the event go out
    deadline = time.time() + 30
    while (not feedback.exists() or feedback.read_text(encoding="utf-8").count("\n") == before) \
            and time.time() < deadline:
        time.sleep(0.2)
    record = json.loads(feedback.read_text(encoding="utf-8").splitlines()[-1])
    assert record["rating"] == "down" and record["question"] == "Wer ist der Sprecher des Kremls?"
    assert " ".join(record["answer"].split()).startswith(shown.split("[1]")[0].strip()) and record["time"]
    assert record["sources"] and record["sources"][0]["source"].endswith(".txt")

    # Download: the conversation as Markdown with the cited passages.
    with page.expect_download(timeout=30_000) as download:
        page.locator("#download").click()
    assert download.value.suggested_filename.endswith(".md")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "## Wer ist der Sprecher des Kremls?" in text and "[1]" in text
    assert record["sources"][0]["quote"][:60] in text and "\n> " in text
