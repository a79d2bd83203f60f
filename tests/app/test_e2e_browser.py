"""End to end in a real browser: `python -m app` (what `make run` starts) on a free port against a
temporary index, driven in headless Debian Chromium by Playwright; screenshots go to artifacts/e2e/."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get, as root)")
    return path


@pytest.fixture(scope="module")
def app_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    work = tmp_path_factory.mktemp("e2e")
    corpus = work / "corpus"
    shutil.copytree(ROOT / "data" / "sample", corpus)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_INDEX_DIR=str(work / "index"), RAG_CORPUS_DIR=str(corpus), RAG_PORT=str(port))
    log = (work / "app.log").open("wb")
    app = subprocess.Popen(
        [sys.executable, "-m", "app"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_up(f"{url}/_stcore/health", app, 240):
            raise RuntimeError((work / "app.log").read_text()[-3000:])
        yield url, app
    finally:
        app.terminate()
        app.wait(timeout=30)
        log.close()
        output = (work / "app.log").read_text()
        assert "Traceback" not in output, output[-3000:]


@pytest.fixture(scope="module")
def running_app(app_process: tuple[str, subprocess.Popen[bytes]]) -> str:
    return app_process[0]


def open_chat(playwright: Any, url: str) -> tuple[Any, Any, Any]:
    """Chromium on the chat at ``url``: the browser, the page and the chat input, once it is enabled."""
    from playwright.sync_api import expect

    browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    chat = page.get_by_test_id("stChatInputTextArea")
    expect(chat).to_be_enabled(timeout=120_000)
    return browser, page, chat


def settle(page: object) -> None:
    """Wait until Streamlit has finished running the script (its status widget is gone)."""
    from playwright.sync_api import expect

    time.sleep(0.3)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=120_000)  # type: ignore[attr-defined]


def test_ask_read_sources_upload_and_ask_again(running_app: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    new_file = tmp_path / "visitor_parking.md"
    new_file.write_text(
        "# Visitor parking\n\nVisitor parking permits are issued at reception. "
        "The permit code for visitors is VP-2291 and it is valid for one day.\n"
    )
    with sync_playwright() as playwright:
        browser, page, chat = open_chat(playwright, running_app)
        page.screenshot(path=ARTIFACTS / "1-start.png")

        chat.fill("How long are backups retained?")
        chat.press("Enter")
        answer = page.get_by_test_id("stChatMessage").nth(1)
        expect(answer).to_contain_text("35 days", timeout=120_000)
        expect(answer).to_contain_text("it_security_policy.pdf, page 4")
        answer.get_by_text("in context").first.click()
        expect(answer).to_contain_text("Servers are backed up every night")
        settle(page)
        page.screenshot(path=ARTIFACTS / "2-answer-with-sources.png", full_page=True)

        broken = tmp_path / "broken.pdf"
        broken.write_bytes(b"%PDF-1.7 this is not really a PDF")
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([str(new_file), str(broken)])
        page.get_by_role("button", name="Add to the index").click()
        expect(page.get_by_text("Added 1")).to_be_visible(timeout=120_000)
        expect(page.get_by_text("failed 1")).to_be_visible()
        expect(page.get_by_text("uploads/broken.pdf: damaged PDF")).to_be_visible()
        settle(page)
        expect(page.get_by_text("10 documents")).to_be_visible()
        page.screenshot(path=ARTIFACTS / "3-uploaded.png", full_page=True)

        chat.fill("What is the permit code for visitors?")
        chat.press("Enter")
        second = page.get_by_test_id("stChatMessage").nth(3)
        try:
            expect(second).to_contain_text("VP-2291", timeout=120_000)
            expect(second).to_contain_text("uploads/visitor_parking.md")
        finally:
            page.screenshot(path=ARTIFACTS / "4-answer-from-upload.png", full_page=True)
        browser.close()


def test_the_chat_survives_its_model_dying_mid_question(
    app_process: tuple[str, subprocess.Popen[bytes]],
) -> None:
    """The model process segfaults while the chat waits on it: that question shows an error, the
    Streamlit server keeps running, and the next question is answered by a reloaded model."""
    import psutil
    from playwright.sync_api import expect, sync_playwright

    url, app = app_process
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser, page, chat = open_chat(playwright, url)
        chat.fill("How long are backups retained?")
        chat.press("Enter")
        expect(page.get_by_test_id("stChatMessage").nth(1)).to_contain_text("35 days", timeout=120_000)
        settle(page)

        models = [c for c in psutil.Process(app.pid).children(recursive=True)
                  if "rag.answer.isolated" in " ".join(c.cmdline())]  # fmt: skip
        assert len(models) == 1
        model = models[0]
        model.suspend()  # frozen: the next question reaches it and waits
        chat.fill("What is the minimum password length?")
        chat.press("Enter")
        time.sleep(3.0)
        os.kill(model.pid, signal.SIGSEGV)
        model.resume()  # it wakes only to die of the pending SIGSEGV
        try:
            expect(page.get_by_text("The language model is not available")).to_be_visible(timeout=120_000)
            expect(page.get_by_text("SIGSEGV").first).to_be_visible()
            settle(page)
            assert app.poll() is None

            chat.fill("How long are backups retained?")
            chat.press("Enter")
            expect(page.get_by_test_id("stChatMessage").last).to_contain_text("35 days", timeout=120_000)
            settle(page)
            failed = page.get_by_test_id("stChatMessage").nth(3)  # the failed turn stays, with its error
            expect(failed).to_contain_text("The language model is not available")
        finally:
            page.screenshot(path=ARTIFACTS / "5-model-crash-then-answer.png", full_page=True)
        assert app.poll() is None
        browser.close()
