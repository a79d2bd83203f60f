"""The chat in a real browser, behind a signing-in proxy and over the HTTP API (``api_url``): the
proxy's X-Forwarded-User/-Groups headers (sent by the browser here, from 127.0.0.1, a trusted
address) decide what each person may read. A reader outside the `it` group never gets the IT
security policy, neither in the answer nor in the document list; an `it` member does; and a reader
cannot upload or delete."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.app.test_e2e_browser import ARTIFACTS, CHROMIUM_FLAGS, chromium, settle
from tests.helpers import ROOT
from tests.helpers.processes import free_port, wait_until_up

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def proxied_chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("e2e-access")
    corpus = work / "corpus"
    shutil.copytree(ROOT / "data" / "sample", corpus)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_INDEX_DIR=str(work / "index"), RAG_CORPUS_DIR=str(corpus), RAG_AUTH="proxy",
               RAG_TRUSTED_PROXIES='["127.0.0.1"]', RAG_ACCESS_RULES='{"it_security_policy.pdf": ["it"]}',
               RAG_WRITER_GROUPS='["editors"]')  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "ingest", "--quiet"], cwd=ROOT, env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    api_port, chat_port = free_port(), free_port()
    processes = []
    with (work / "api.log").open("wb") as log:
        serve = [sys.executable, "-m", "rag", "serve", "--port", str(api_port)]
        processes.append(subprocess.Popen(serve, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    chat_env = {**env, "RAG_API_URL": f"http://127.0.0.1:{api_port}", "RAG_PORT": str(chat_port)}
    with (work / "chat.log").open("wb") as log:
        processes.append(subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=chat_env, stdout=log,
                                          stderr=subprocess.STDOUT))  # fmt: skip
    url = f"http://127.0.0.1:{chat_port}"
    try:
        for where, process in ((f"http://127.0.0.1:{api_port}/health", processes[0]),
                               (f"{url}/_stcore/health", processes[1])):  # fmt: skip
            if not wait_until_up(where, process, 240):
                raise RuntimeError(
                    (work / "api.log").read_text()[-2000:] + (work / "chat.log").read_text()[-2000:]
                )
        yield url
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        output = (work / "chat.log").read_text() + (work / "api.log").read_text()
        assert "Traceback" not in output, output[-3000:]


def test_each_person_reads_only_their_documents(proxied_chat: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        for name, groups, sees in (("rita", "staff", False), ("ivan", "it,staff", True)):
            context = browser.new_context(
                viewport={"width": 1400, "height": 1000},
                extra_http_headers={"X-Forwarded-User": name, "X-Forwarded-Groups": groups},
            )
            page = context.new_page()
            page.goto(proxied_chat)
            chat = page.get_by_test_id("stChatInputTextArea")
            expect(chat).to_be_enabled(timeout=120_000)
            expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()
            expect(page.get_by_text(f"{9 if sees else 8} documents you may read").first).to_be_visible()
            expect(page.get_by_role("button", name="Add to the index")).to_have_count(0)  # readers only
            chat.fill("How long are backups retained?")
            chat.press("Enter")
            answer = page.get_by_test_id("stChatMessage").nth(1)
            try:
                if sees:
                    expect(answer).to_contain_text("35 days", timeout=120_000)
                    expect(answer).to_contain_text("it_security_policy.pdf, page 4")
                else:
                    settle(page)
                    expect(answer).not_to_contain_text("35 days")
                    expect(answer).not_to_contain_text("it_security_policy.pdf")
                    expect(answer).not_to_contain_text("Servers are backed up")
            finally:
                settle(page)
                page.screenshot(path=ARTIFACTS / f"access-{name}.png", full_page=True)
            context.close()
        browser.close()
