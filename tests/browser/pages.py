"""Superset pages as a reader opens them, in Chromium driven by Playwright: log in, open a
dashboard and wait until every chart has its data and has drawn it. Shared by the browser
tests and benchmarks/bi_dashboards.py.
"""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass
from typing import Any

# as root, Chromium needs --no-sandbox; the rest keeps it off the network and quiet
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=fr-FR",
]


@dataclass
class Opened:
    page: Any
    chart_responses: list[dict]
    seconds: float


def fr_number(text: str) -> float:
    """'1 234,5 €' -> 1234.5 (French digits as the cards print them)."""
    cleaned = re.sub(r"[^\d,.\-−]", "", text.replace("\u202f", "").replace("\xa0", "").replace(" ", ""))
    return float(cleaned.replace("−", "-").replace(",", "."))


def login(browser, base_url: str, username: str, password: str):
    """Log in through Superset's login form; a second try if the first never reaches the welcome
    page (seen once in a full test run, right after start-up), with a warning naming where the
    first one stopped, and an error with the page's text if the second fails too."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="fr-FR")
    page = context.new_page()
    for attempt in (1, 2):
        page.goto(f"{base_url}/login/")
        page.fill("#username", username)
        page.fill("#password", password)
        page.click("button[type=submit]")
        try:
            page.wait_for_url("**/superset/welcome/**", timeout=45_000)
            return page
        except PlaywrightTimeout:
            where = f"login as {username!r} stopped at {page.url}: {page.inner_text('body')[:300]!r}"
            if attempt == 2:
                raise AssertionError(where) from None
            warnings.warn(f"first {where}; trying again", stacklevel=2)
    return page


def open_dashboard(page, base_url: str, slug: str, expected_charts: int) -> Opened:
    """Open a dashboard and wait until every chart has its data and has drawn it."""
    responses: list[dict] = []

    def on_response(response) -> None:
        if "/api/v1/chart/data" in response.url:
            try:
                body = response.json()
            except Exception:  # noqa: BLE001 - a non-JSON answer is itself the failure to report
                body = {"unreadable": response.text()[:500]}
            responses.append({"status": response.status, "body": body})

    page.on("response", on_response)
    started = time.perf_counter()
    page.goto(f"{base_url}/superset/dashboard/{slug}/")
    page.wait_for_function(
        """n => {
            const charts = document.querySelectorAll('[data-test="chart-grid-component"]');
            if (charts.length !== n) return false;
            return [...charts].every(c => {
                const slice = c.querySelector('[data-test="slice-container"]');
                return slice && slice.innerText.trim().length + slice.querySelectorAll('canvas,svg').length > 0
                    && !c.querySelector('[data-test="loading-indicator"]');
            });
        }""",
        arg=expected_charts,
        timeout=120_000,
    )
    seconds = time.perf_counter() - started
    page.remove_listener("response", on_response)
    return Opened(page, responses, seconds)
