"""The web page of `slm serve` in a real browser: headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) loads GET /, sends a chat message, and waits for the streamed
reply and its tokens/s figure; the second tab shows the server's own error message when there is
no classifier, and keyword scores. A screenshot of the chat is saved (its path is printed;
SLM_WEB_SCREENSHOT=path saves it there too, as docs/img/serve_web.png was made)."""
import contextlib
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import ROOT, SANITIZED, STORIES, TOOLS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    webdriver = None

pytestmark = pytest.mark.skipif(
    webdriver is None or not CHROMIUM or not CHROMEDRIVER,
    reason="needs Debian's chromium and chromium-driver and PyPI's selenium (scripts/setup.sh --test installs them)")

SLOW = 5 if SANITIZED else 1  # timeouts stretch under AddressSanitizer


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_json(url, body):
    """POSTs JSON; returns (status, parsed body) for success and HTTP errors alike."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@contextlib.contextmanager
def running_server(slm, log, *extra):
    """slm serve on stories260K on a free port (no classifier); yields its base URL once /health
    answers."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(slm), "serve", "-m", str(STORIES / "stories260K.bin"), "--host", "127.0.0.1",
                                 "--port", str(port), "--parallel", "2", "--threads", "1", *extra],
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60 * SLOW
        while True:
            assert proc.poll() is None, f"slm serve exited ({proc.returncode}): {log.read_text(errors='replace')}"
            try:
                with urllib.request.urlopen(url + "/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.time() < deadline, f"slm serve not ready: {log.read_text(errors='replace')}"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(slm, tmp_path_factory):
    with running_server(slm, tmp_path_factory.mktemp("serve") / "serve.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1100,720", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def screenshot_dir():
    """The build dir's tests folder when it exists (the CTest run), else a temporary folder."""
    return TOOLS if TOOLS.is_dir() else pathlib.Path(os.environ.get("TMPDIR", "/tmp"))


def test_page_is_served(server):
    with urllib.request.urlopen(server + "/", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/html")
        page = response.read().decode()
    # the binary carries src/serve/web/index.html byte for byte (embedded at build time)
    assert page == (ROOT / "src" / "serve" / "web" / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", page)  # nothing loaded from elsewhere


def test_chat_streams_a_reply(server, browser):
    browser.get(server + "/")
    WebDriverWait(browser, 20 * SLOW).until(
        lambda d: d.find_element(By.ID, "model-name").text not in ("", "connecting…"))
    assert "stories260K" in browser.find_element(By.ID, "model-name").text
    max_tokens = browser.find_element(By.ID, "max-tokens")
    max_tokens.clear()
    max_tokens.send_keys("64")
    # the user's text goes in as text too: markup in it stays visible, never parsed
    message = "Tell me a story about <b>Lily</b> and her dog."
    # count the reply's updates: it is rendered piece by piece as the SSE chunks are parsed
    browser.execute_script("""
        window.replyUpdates = 0;
        new MutationObserver((records) => {
          for (const r of records) if (r.target.closest && r.target.closest(".message.assistant .content")) window.replyUpdates++;
        }).observe(document.getElementById("messages"), {childList: true, subtree: true, characterData: true});""")
    browser.find_element(By.ID, "message-input").send_keys(message)
    browser.find_element(By.ID, "send-button").click()

    def finished_reply(d):
        done = d.find_elements(By.CSS_SELECTOR, ".message.assistant[data-done='true']")
        return done[0] if done else None

    reply = WebDriverWait(browser, 60 * SLOW).until(finished_reply)
    text = reply.find_element(By.CSS_SELECTOR, ".content").text
    stats = reply.find_element(By.CSS_SELECTOR, ".stats").text
    print(f"reply: {text!r}\nstats: {stats}")
    assert text.strip(), "empty reply"
    assert "tok/s" in stats and "tokens" in stats
    tokens = int(stats.split(" token")[0])
    assert tokens > 1 and browser.execute_script("return window.replyUpdates") >= 2
    user = browser.find_element(By.CSS_SELECTOR, ".message.user").text
    assert user == message
    assert not browser.find_elements(By.CSS_SELECTOR, "#messages b")
    assert not browser.find_elements(By.CSS_SELECTOR, ".message.error")

    # a second turn carries the history: two user messages, two replies
    browser.find_element(By.ID, "message-input").send_keys("And then?")
    browser.find_element(By.ID, "send-button").click()
    WebDriverWait(browser, 60 * SLOW).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".message.assistant[data-done='true']")) == 2)
    assert len(browser.find_elements(By.CSS_SELECTOR, ".message.user")) == 2

    shot = screenshot_dir() / "serve_web.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    if os.environ.get("SLM_WEB_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["SLM_WEB_SCREENSHOT"])


def test_classify_without_classifier_shows_the_servers_message(server, browser):
    status, body = post_json(server + "/v1/classify", {"input": "a gorgeous, witty film"})
    assert 400 <= status < 500
    expected = body["error"]["message"]
    browser.get(server + "/")
    browser.find_element(By.ID, "tools-tab-button").click()
    browser.find_element(By.ID, "tools-input").send_keys("a gorgeous, witty film")
    browser.find_element(By.ID, "classify-button").click()
    shown = WebDriverWait(browser, 20 * SLOW).until(lambda d: d.find_element(By.ID, "tools-error").text)
    assert shown == expected


def test_keywords_tab(server, browser):
    text = ("The small dog ran to the park. In the park, the small dog found a red ball. "
            "The dog played with the red ball all day.")
    status, body = post_json(server + "/v1/keywords", {"input": text, "top_k": 5})
    browser.get(server + "/")
    browser.find_element(By.ID, "tools-tab-button").click()
    browser.find_element(By.ID, "tools-input").send_keys(text)
    top_k = browser.find_element(By.ID, "top-k")
    top_k.clear()
    top_k.send_keys("5")
    browser.find_element(By.ID, "keywords-button").click()
    if status != 200:  # no keyword model: the page shows the server's message
        shown = WebDriverWait(browser, 20 * SLOW).until(lambda d: d.find_element(By.ID, "tools-error").text)
        assert shown == body["error"]["message"]
        return
    WebDriverWait(browser, 20 * SLOW).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tools-results .bar"))
    rows = browser.find_element(By.ID, "tools-results").text
    print(rows)
    assert "dog" in rows
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tools-results .bar")) <= 5


def test_api_key(slm, browser, tmp_path):
    """With --api-key the page loads, asks for the key, shows the 401 message for a chat sent
    without it, and streams once the key is typed in Settings."""
    with running_server(slm, tmp_path / "serve.log", "--api-key", "s3cret") as url:
        browser.get(url + "/")
        WebDriverWait(browser, 20 * SLOW).until(
            lambda d: "API key" in d.find_element(By.ID, "model-name").text)
        browser.find_element(By.ID, "message-input").send_keys("Hello")
        browser.find_element(By.ID, "send-button").click()
        error = WebDriverWait(browser, 20 * SLOW).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, ".message.error"))[0].text
        assert "API key" in error
        # the failed turn is taken back: no user bubble, its text back in the input box
        assert not browser.find_elements(By.CSS_SELECTOR, ".message.user")
        assert browser.find_element(By.ID, "message-input").get_attribute("value") == "Hello"
        key = browser.find_element(By.ID, "api-key")
        key.send_keys("s3cret")
        browser.find_element(By.ID, "temperature").click()  # leaving the field fires its change event
        WebDriverWait(browser, 20 * SLOW).until(
            lambda d: "stories260K" in d.find_element(By.ID, "model-name").text)
        browser.find_element(By.ID, "send-button").click()
        reply = WebDriverWait(browser, 60 * SLOW).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, ".message.assistant[data-done='true']"))[0]
        assert reply.find_element(By.CSS_SELECTOR, ".content").text.strip()
        browser.execute_script("sessionStorage.clear()")  # the other tests run without a key
