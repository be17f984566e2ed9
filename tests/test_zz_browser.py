"""The patch explorer in a real browser: JupyterLab and Voila on loopback,
headless Chromium driven by Playwright.  Runs last (file name), when the numba
cache is warm.  Screenshots are kept under ``out/test-artifacts/``.

Needs ``/usr/bin/chromium`` (Debian package, installed by ``.ci/run``) and the
``playwright`` Python package; never ``playwright install``.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "out" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage"]

pw = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (.ci/run installs it)", allow_module_level=True)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url, timeout=90.0):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def _stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def workdir(tmp_path):
    """A copy of the notebook (JupyterLab autosaves what it opens) and private
    Jupyter config/runtime folders with the news toast switched off."""
    nb = tmp_path / "nb"
    nb.mkdir()
    shutil.copy(REPO / "notebooks" / "01-patch-explorer.ipynb", nb)
    cfg = tmp_path / "cfg"
    (cfg / "labconfig").mkdir(parents=True)
    (cfg / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(cfg), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
               IPYTHONDIR=str(tmp_path / "ipy"), MPLBACKEND="Agg")
    return nb, env


def _browser(p):
    b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
    page = b.new_page(viewport={"width": 1500, "height": 1100})
    page.route("**/*", lambda route: route.continue_()
               if route.request.url.startswith("http://127.0.0.1") else route.abort())
    return b, page


def _img_srcs(page, selector):
    return page.eval_on_selector_all(selector, "els => els.map(e => e.getAttribute('src'))")


def _toggle_patch4_and_run(page):
    """Untick patch 4 (the notebook left 3 and 4 on), click Run, wait for the status."""
    boxes = page.locator(".widget-checkbox input[type=checkbox]")
    assert boxes.count() >= 4
    before = _img_srcs(page, ".widget-output img")
    boxes.nth(3).click()
    page.get_by_role("button", name="Run").first.click()
    page.wait_for_function(
        "prev => { const s = [...document.querySelectorAll('.widget-output img')]"
        ".map(e => e.getAttribute('src')); return s.length >= 2 && s[0] !== prev[0] && "
        "s[1] !== prev[1]; }", arg=before, timeout=120_000)
    after = _img_srcs(page, ".widget-output img")
    assert after[0] != before[0], "the pageblock map did not change"
    assert after[1] != before[1], "the swap/extfrag/stall/latency/THP panels did not change"
    status = page.locator(".widget-html-content").all_inner_texts()
    assert any("patches=3" in s for s in status), status


def _check_explorer(page, screenshot: str) -> None:
    """Wait for the explorer's first plots, untick patch 4 and rerun (checking
    that the plots change), and save a screenshot as a test artifact."""
    page.wait_for_function(
        "() => document.querySelectorAll('.widget-output img').length >= 2", timeout=240_000)
    _toggle_patch4_and_run(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)


def test_explorer_in_jupyterlab(workdir):
    nb, env = workdir
    port, token = _port(), secrets.token_hex(16)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={nb}",
         "--ServerApp.allow_root=True", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.expose_app_in_browser=True"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/status?token={token}")
        with pw.sync_playwright() as p:
            b, page = _browser(p)
            page.goto(f"http://127.0.0.1:{port}/lab/tree/01-patch-explorer.ipynb?token={token}")
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                "window.jupyterapp.shell.currentWidget.sessionContext && "
                "window.jupyterapp.shell.currentWidget.sessionContext.session && "
                "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel && "
                "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status "
                "=== 'idle'", timeout=120_000)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            _check_explorer(page, "explorer-jupyterlab.png")
            b.close()
    finally:
        _stop(proc)


def test_explorer_in_voila(workdir):
    nb, env = workdir
    port = _port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", str(nb / "01-patch-explorer.ipynb"), "--no-browser",
         f"--port={port}", "--Voila.ip=127.0.0.1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/")
        with pw.sync_playwright() as p:
            b, page = _browser(p)
            page.goto(f"http://127.0.0.1:{port}/", timeout=240_000)
            _check_explorer(page, "explorer-voila.png")
            b.close()
    finally:
        _stop(proc)
