"""The patch explorer in a real browser: JupyterLab (notebook 01) and Voila
(notebooks/app.ipynb) on loopback at 1440x900, headless Chromium driven by
Playwright.  Runs last (file name), when the numba cache is warm.  Checked:
the widget shows within 2 s of running its cell (JupyterLab), the figures'
smallest font is 9 px or more as the browser shows them, toggling patches
changes the plots, a refused configuration greys them, "Save figures" writes
files and "Copy table as text" shows the table.  Screenshots of the explorer
and the demo figures are kept under ``out/test-artifacts/``.

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
    shutil.copy(REPO / "notebooks" / "app.ipynb", nb)
    cfg = tmp_path / "cfg"
    (cfg / "labconfig").mkdir(parents=True)
    (cfg / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(cfg), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
               IPYTHONDIR=str(tmp_path / "ipy"), MPLBACKEND="Agg")
    return nb, env


def _browser(p):
    b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
    page = b.new_page(viewport={"width": 1440, "height": 900})
    page.route("**/*", lambda route: route.continue_()
               if route.request.url.startswith("http://127.0.0.1") else route.abort())
    return b, page


def _img_srcs(page, selector=".widget-output img"):
    return page.eval_on_selector_all(selector, "els => els.map(e => e.getAttribute('src'))")


def _status(page) -> str:
    return "\n".join(page.locator(".widget-html-content").all_inner_texts())


def _set_patches(page, want) -> None:
    """Tick exactly the patches ``want`` (numbers 1-4)."""
    boxes = page.locator(".widget-checkbox input[type=checkbox]")
    assert boxes.count() >= 4
    for i in range(4):
        if boxes.nth(i).is_checked() != (i + 1 in want):
            boxes.nth(i).click()


def _run_and_wait(page, text: str) -> list:
    """Click Run and wait until the status line says ``text`` and both images
    (the map, the panels) are new; the images after."""
    prev = _img_srcs(page)
    page.get_by_role("button", name="Run").first.click()
    page.wait_for_function("t => [...document.querySelectorAll('.widget-html-content')]"
                           ".some(e => e.innerText.includes(t))", arg=text, timeout=120_000)
    page.wait_for_function(
        "prev => { const s = [...document.querySelectorAll('.widget-output img')]"
        ".map(e => e.getAttribute('src')); return s.length >= 2 && s[0] !== prev[0] && "
        "s[1] !== prev[1]; }", arg=prev, timeout=60_000)
    return _img_srcs(page)


def _is_grey(src: str) -> bool:
    import base64
    import io
    import numpy as np
    from PIL import Image
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))
    return bool((img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all())


def _check_fonts(page) -> None:
    """The smallest font of each figure, as the browser shows it, is 9 px or more."""
    from defragsim.widgets import FIGURE_DPI, MIN_FONT_PT
    sizes = page.eval_on_selector_all(
        ".widget-output img", "els => els.map(e => [e.clientWidth, e.naturalWidth])")
    assert len(sizes) >= 2
    for shown, natural in sizes:
        px = MIN_FONT_PT * FIGURE_DPI / 72 * shown / natural
        print(f"figure {natural} px wide shown at {shown} px: smallest font {px:.1f} px")
        assert px >= 9, f"a {natural}-pixel figure shown {shown} wide: {px:.1f} px fonts"


def _check_explorer(page, screenshot: str, nbdir) -> None:
    """Wait for the explorer's first plots; check the fonts; run patches 3
    and 4 (the plots change), refuse 4 without 3 (the plots turn grey), save
    the figures and copy the table; keep a screenshot."""
    page.wait_for_function(
        "() => document.querySelectorAll('.widget-output img').length >= 2", timeout=240_000)
    _check_fonts(page)
    before = _img_srcs(page)
    _set_patches(page, {2})
    after = _run_and_wait(page, "patches=2")
    assert after[0] != before[0] and after[1] != before[1], "the plots did not change"
    _set_patches(page, {3, 4})
    colour = _run_and_wait(page, "patches=3,4")
    _set_patches(page, {4})
    grey = _run_and_wait(page, "refused")
    assert "greyed" in _status(page)
    assert _is_grey(grey[0]) and _is_grey(grey[1]) and not _is_grey(colour[1])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(".widget-output img").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / screenshot.replace(".png", "-refused.png")), full_page=True)
    _set_patches(page, {3, 4})
    _run_and_wait(page, "cached result")
    page.get_by_role("button", name="Save figures").click()
    page.wait_for_function("() => [...document.querySelectorAll('.widget-html-content')]"
                           ".some(e => e.innerText.includes('saved'))", timeout=60_000)
    saved = sorted((Path(nbdir) / "out" / "explorer").glob("*patches_3_4*"))
    assert {p.suffix for p in saved} == {".png", ".svg"}, saved
    page.get_by_role("button", name="Copy table as text").click()
    page.wait_for_function("() => [...document.querySelectorAll('textarea')]"
                           ".some(e => e.value.includes('kernel baseline'))", timeout=30_000)
    _check_fonts(page)
    page.locator(".widget-output img").first.scroll_into_view_if_needed()
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
            run = "() => window.jupyterapp.commands.execute('notebook:run-cell-and-select-next')"
            page.evaluate(run)                         # the markdown cell
            t0 = time.monotonic()
            page.evaluate(run)                         # the explorer's cell
            page.wait_for_selector(".widget-checkbox input", timeout=60_000)
            shown = time.monotonic() - t0
            assert shown <= 2.0, f"the explorer showed {shown:.1f} s after running its cell"
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-below')")
            # every cell done (the notebook itself runs and pins) before the test clicks
            page.wait_for_function(
                "() => { const p = [...document.querySelectorAll('.jp-InputPrompt')]"
                ".map(e => e.innerText); return p.length >= 4 && p.every(t => !t.includes('*'))"
                " && p.filter(t => /\\[\\d+\\]/.test(t)).length >= 3; }", timeout=300_000)
            _check_explorer(page, "explorer-jupyterlab.png", nb)
            b.close()
    finally:
        _stop(proc)


def test_explorer_in_voila(workdir):
    nb, env = workdir
    port = _port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", str(nb / "app.ipynb"), "--no-browser",
         f"--port={port}", "--Voila.ip=127.0.0.1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/")
        with pw.sync_playwright() as p:
            b, page = _browser(p)
            page.goto(f"http://127.0.0.1:{port}/", timeout=240_000)
            _check_explorer(page, "explorer-voila.png", nb)
            b.close()
    finally:
        _stop(proc)


def test_demo_figures_as_artifacts():
    """The demo's figure set of a small comparison, kept beside the screenshots."""
    from defragsim import plot
    from defragsim.analysis.compare import compare
    from defragsim.cli import DEMO_CONFIGS
    cmp = compare("storm", DEMO_CONFIGS, seeds=[1], mem="256M", duration=8)
    files = plot.write_compare_figures(cmp, ARTIFACTS / "demo")
    assert all(Path(f).stat().st_size > 1000 for f in files)
