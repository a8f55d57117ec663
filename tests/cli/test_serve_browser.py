"""``ssrlm serve`` end to end: the command serves the page, Debian's headless Chromium uses it as a person would.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (Debian's ``chromium`` and ``chromium-driver``,
which ``.ci/run`` installs) and selenium; nothing is downloaded. With ``SSRLM_SCREENSHOT=docs/serve-screenshot.png``
the screenshot is also written there (the README's picture).
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from modeling_ssrlm.cli import default_model_dir, main
from modeling_ssrlm.fold3d.pdb_io import read_plddt, read_rna_chains, read_structure_text
from modeling_ssrlm.secondary_structure import parse_dot_bracket, read_ct

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
    pytest.skip(
        "needs Debian's headless Chromium: apt-get install chromium chromium-driver (.ci/run installs them)",
        allow_module_level=True,
    )
pytest.importorskip("gradio", reason="ssrlm serve needs gradio (pip install 'ssrlm[serve]')")
webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium (pip install 'ssrlm[serve]')")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TRNA = "GCGGAUUUAGCUCAGUUGGGAGAGCGCCAGACUGAAGAUCUGGAGGUCCUGUGUUCGAUCCACAGAAUUCGCACCA"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--window-size=1280,1000",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """``ssrlm serve`` on a free localhost port with its own TMPDIR; yields the URL, checks a clean stop."""
    temporary = tmp_path / "server-tmp"
    temporary.mkdir()
    environment = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TMPDIR": str(temporary),
                   "PYTHONFAULTHANDLER": "1"}  # a server that does not stop dumps its threads' stacks (below)
    command = [sys.executable, "-c", "import sys; from modeling_ssrlm.cli import main; sys.exit(main())"]
    log = tmp_path / "server.err"
    process = subprocess.Popen(
        command + ["serve", "--model", str(default_model_dir()), "--port", str(_free_port()), "--device", "cpu"],
        env=environment, stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
        # Ctrl-C must reach it even when pytest itself runs with SIGINT ignored (started in the
        # background by a shell without job control), which a child would otherwise inherit
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        ready, _, _ = select.select([process.stdout], [], [], 120)
        line = process.stdout.readline() if ready else ""  # the command's first line says where it listens
        assert line.startswith("ssrlm serve: http://127.0.0.1:"), line + log.read_text()
        yield line.split()[2]
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)  # faulthandler writes every thread's stack to the log
            process.wait(timeout=30)
            pytest.fail("ssrlm serve did not stop within 30 s of Ctrl-C; its threads:\n" + log.read_text()[-6000:])
        assert code == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    leftovers = [path.name for path in temporary.iterdir() if path.name.startswith(("ssrlm-", "gradio"))]
    assert leftovers == []  # the server's private folder is gone after a stop, and Gradio kept to it


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium with a fresh profile, downloads into ``tmp_path/downloads`` and a network log."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(str(CHROMEDRIVER)), options=options)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver
    finally:
        driver.quit()


def _css(driver, selector: str):
    return driver.find_element(By.CSS_SELECTOR, selector)


def _status_text(driver) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, "#ssrlm-status div[role=status]")
    return found[0].text if found else ""


def _type(driver, text: str) -> None:
    """Replace the sequences box's text with keystrokes (so that the page sees them)."""
    box = _css(driver, "#ssrlm-sequences textarea")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    if text:
        box.send_keys(text)


def _predict(driver) -> str:
    """Press Predict and return the new status line once it is shown (each step expects a different one)."""
    before = _status_text(driver)
    _css(driver, "#ssrlm-predict").click()
    wait = WebDriverWait(driver, 60, ignored_exceptions=[StaleElementReferenceException])
    return wait.until(lambda d: (status := _status_text(d)) not in ("", before) and status)


def _upload(driver, path: Path) -> None:
    """Choose ``path`` in the FASTA file field (replacing an earlier file) and wait until the page has it."""
    for clear in driver.find_elements(By.CSS_SELECTOR, "#ssrlm-upload button[aria-label='Clear']"):
        clear.click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#ssrlm-upload input[type=file]"))
    _css(driver, "#ssrlm-upload input[type=file]").send_keys(str(path))


def _toasts(driver) -> str:
    """The text of Gradio's pop-up messages (those it shows itself, such as a refused upload)."""
    return " ".join(toast.get_attribute("textContent") for toast in driver.find_elements(By.CSS_SELECTOR, ".toast-body"))


def _downloaded(folder: Path, name: str) -> Path:
    path = folder / name
    deadline = time.monotonic() + 20
    while not path.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    return path


def _full_page_screenshot(driver, path: Path) -> None:
    """A PNG of the whole page, not only the window (Chromium's DevTools protocol)."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
    path.write_bytes(base64.b64decode(shot["data"]))


def _hosts_requested(driver) -> set[str]:
    """``host:port`` of every http(s) or websocket request the page made (Chromium's performance log)."""
    hosts = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            url = message["params"].get("request", {}).get("url") or message["params"].get("url", "")
            if urlsplit(url).scheme in ("http", "https", "ws", "wss"):
                hosts.add(urlsplit(url).netloc)
    return hosts


@pytest.mark.slow
def test_page_predicts_draws_downloads_and_refuses_bad_input(server, browser, tmp_path, capsys):
    """Paste, predict, compare with ``ssrlm predict``, download the CT file, refuse bad input in the page,
    upload a two-record FASTA and switch records, refuse an oversized upload; all within a minute, offline."""
    started = time.monotonic()
    browser.get(server)
    WebDriverWait(browser, 60).until(lambda d: _css(d, "#ssrlm-sequences textarea"))

    _type(browser, f">tRNA-Phe_yeast\n{TRNA}")
    status = _predict(browser)
    assert status.startswith("1 record predicted in"), status
    shown = _css(browser, "#ssrlm-dot-bracket textarea").get_attribute("value").splitlines()
    assert main(["predict", f"{TRNA}", "--model", str(default_model_dir()), "--device", "cpu"]) == 0
    expected = capsys.readouterr().out.splitlines()
    assert shown == [">tRNA-Phe_yeast", TRNA, expected[2]]  # the dot-bracket of `ssrlm predict`, same model

    drawn_pairs = browser.find_elements(By.CSS_SELECTOR, "#ssrlm-drawing g#pairs line")
    assert len(drawn_pairs) == expected[2].count("(")  # RNAplot's drawing of the nested pairs
    assert _css(browser, "#ssrlm-map img").get_attribute("naturalWidth") != "0"
    _css(browser, "#ssrlm-downloads a[download='tRNA-Phe_yeast.ct']").click()
    ct = _downloaded(tmp_path / "downloads", "tRNA-Phe_yeast.ct")
    assert read_ct(ct) == (TRNA, parse_dot_bracket(expected[2]))

    before = _status_text(browser)
    _css(browser, "#ssrlm-fold3d").click()
    wait = WebDriverWait(browser, 60, ignored_exceptions=[StaleElementReferenceException])
    status = wait.until(lambda d: (status := _status_text(d)) not in ("", before) and status)
    assert status.startswith("3D model tRNA-Phe_yeast.pdb of tRNA-Phe_yeast in"), status
    assert "mean pLDDT" in _css(browser, "#ssrlm-notes").text
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#ssrlm-downloads a[download='tRNA-Phe_yeast.pdb']"))
    _css(browser, "#ssrlm-downloads a[download='tRNA-Phe_yeast.pdb']").click()
    pdb = _downloaded(tmp_path / "downloads", "tRNA-Phe_yeast.pdb")
    [chain] = read_rna_chains(read_structure_text(pdb), pdb.name)
    assert chain.sequence == TRNA and 0 < read_plddt(pdb).mean() < 1  # the shipped 3D model's pLDDT

    screenshot = tmp_path / "serve-screenshot.png"
    _full_page_screenshot(browser, screenshot)
    if os.environ.get("SSRLM_SCREENSHOT"):
        shutil.copyfile(screenshot, REPO / os.environ["SSRLM_SCREENSHOT"])

    _type(browser, "ACGUXACGU")
    status = _predict(browser)
    assert status.startswith("Input not accepted: record 'seq1': invalid character 'X' at position 4"), status
    assert not [shown for shown in browser.find_elements(By.CSS_SELECTOR, "#ssrlm-dot-bracket") if shown.is_displayed()]
    _type(browser, "A" * 1001)
    assert "record 'seq1': 1001 nt is longer than --max-length 1000" in _predict(browser)
    assert "Traceback" not in browser.page_source

    two = tmp_path / "two.fa"
    two.write_text(f">short\nGGGGAAACCCC\n>tRNA\n{TRNA}\n")
    _type(browser, "")
    _upload(browser, two)
    assert _predict(browser).startswith("2 records predicted in")
    _css(browser, "#ssrlm-record input").click()
    WebDriverWait(browser, 10).until(lambda d: _css(d, "#ssrlm-record li[aria-label='2. tRNA (76 nt)']")).click()
    WebDriverWait(browser, 10).until(lambda d: _css(d, "#ssrlm-dot-bracket textarea").get_attribute("value").startswith(">tRNA\n"))

    big = tmp_path / "big.fa"
    big.write_text(">big\n" + "ACGU" * 300_000 + "\n")  # 1.2 MB: Gradio refuses it before any request
    _upload(browser, big)
    assert "exceed the maximum allowed size" in WebDriverWait(browser, 10).until(_toasts)

    assert _hosts_requested(browser) == {urlsplit(server).netloc}  # offline: nothing but this server
    assert time.monotonic() - started < 60
