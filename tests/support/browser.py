"""Debian's Chromium driven by Playwright, and axe-core's accessibility check of a page.

Both are installed by `make browser-tools` (run here when missing); Playwright's own browser download is not used.

    with chromium() as browser: page = browser.new_page(); ...; assert serious_violations(page) == []
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERIOUS = ("serious", "critical")


def _make_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, f"the Makefile sets no {name}"
    return match.group(1)


def axe_script() -> Path:
    cache = Path(os.environ.get("TDSES_CACHE_DIR") or Path.home() / ".cache" / "tdses")
    return cache / f"axe-core-{_make_variable('AXE_VERSION')}" / "node_modules" / "axe-core" / "axe.min.js"


def install_browser_tools() -> None:
    if shutil.which("chromium") is None or not axe_script().is_file():
        subprocess.run(["make", "-s", "browser-tools"], cwd=ROOT, check=True, stdin=subprocess.DEVNULL)


@contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    install_browser_tools()
    with sync_playwright() as playwright:
        # As root (CI) Chromium runs only without its sandbox; the pages it opens are our own.
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical violations of the page as it is now (WCAG 2 A/AA rules and best practices)."""
    # Evaluated through the DevTools protocol, not added as a <script>: the pages' Content-Security-Policy allows no
    # inline script, and the pages are checked as they run, policy included.
    page.evaluate(axe_script().read_text())
    violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [f"{page.url}: {v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in violations if v["impact"] in SERIOUS]
