"""The HTML run report in a real headless Chromium (Debian's), with no network: the plan graph and the
timeline are drawn, the page runs no script and fetches nothing. The screenshot in docs/ comes from here
(UPDATE_SCREENSHOT=1 writes it)."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver")
SCREENSHOT = ROOT / "docs" / "report-screenshot.png"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}", "--window-size=1400,1700",
                # No network for the page: every host name fails to resolve, and any proxy use goes nowhere.
                "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
                "--proxy-bypass-list=<-loopback>"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_the_report_of_the_main_job_renders_graph_and_timeline_offline_in_chromium(main_job, browser, tmp_path):
    assert main_job.rc == 0, main_job.out[-2000:]
    page = main_job.run_dir / "report.html"
    text = page.read_text()
    assert "<script" not in text.lower()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text), "the page points outside"
    browser.get(page.as_uri())
    state = browser.execute_script("""
        const box = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
        const nodes = [...document.querySelectorAll('#plan-graph g.node')];
        const bars = [...document.querySelectorAll('#timeline rect.bar')];
        return {scripts: document.scripts.length,
                fetched: performance.getEntriesByType('resource').map(e => e.name),
                nodes: nodes.length, nodesDrawn: nodes.filter(box).length,
                failedNodes: nodes.filter(n => n.dataset.status === 'failed').length,
                bars: bars.length, barsDrawn: bars.filter(box).length,
                bands: document.querySelectorAll('#timeline rect.band').length,
                graph: box(document.querySelector('#plan-graph')), timeline: box(document.querySelector('#timeline')),
                graphFits: document.querySelector('#plan-graph').getBoundingClientRect().width <= window.innerWidth,
                verdict: document.querySelector('#verdict').innerText};
    """)
    started = [line for line in (main_job.run_dir / "events.jsonl").read_text().splitlines()
               if '"event": "step_started"' in line]
    assert state["scripts"] == 0 and state["fetched"] == []
    assert state["graph"] and state["timeline"] and state["graphFits"]  # wide layers wrap: no sideways scroll
    planned = json.loads((main_job.run_dir / "meta.json").read_text())["plan"]
    assert state["nodes"] == state["nodesDrawn"] == len(planned) and state["failedNodes"] == 0
    assert state["bars"] == state["barsDrawn"] == len(started)
    assert state["bands"] >= 3 + 4  # three waves, four namespaces
    assert "zero downtime" in state["verdict"]
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("UPDATE_SCREENSHOT"):
        shutil.copy(shot, SCREENSHOT)
    assert SCREENSHOT.is_file(), "no screenshot in docs/: run with UPDATE_SCREENSHOT=1 once"
