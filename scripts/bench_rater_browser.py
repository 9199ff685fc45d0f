"""Time the rating screen in a real browser: time to first item, and submit to next item.

``scripts/bench_rater.py`` times the server's round trips; this times what the rater
waits for. It seeds the same demo-derived pairwise project (``bench_rater.seed``), serves
it with gunicorn, signs a rater in through Chromium (Playwright, the Debian build at
RANKROOM_CHROMIUM) at 1366x768, then:

- time to first item: from the start of navigation to the rating page until the frame
  after the first item's form is in the page (``performance.now()``, origin = navigation);
- submit to next item: from the Ctrl+Enter keydown until the frame after the next item's
  form replaced the last one, for ``--rounds`` items filled in by script (verdict A, the
  same scores for both responses, so no contradiction prompt interrupts).

Prints p50/p95/max per measure. Run from the checkout to measure:
``python scripts/bench_rater_browser.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import bench_rater  # noqa: E402

# Installed before any page script: note when each item form enters the page (at the
# next animation frame, i.e. once it can be painted) and when Ctrl+Enter went down.
WATCH = """
window.__items = [];
window.__submitAt = null;
document.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) window.__submitAt = performance.now();
}, true);
new MutationObserver(() => {
  const form = document.querySelector('#item-host form.item');
  const id = form && form.dataset.assignmentId;
  const last = window.__items[window.__items.length - 1];
  if (id && (!last || last.id !== id)) {
    const entry = {id, inserted: performance.now()};
    window.__items.push(entry);
    requestAnimationFrame(() => { entry.frame = performance.now(); });
  }
}).observe(document, {childList: true, subtree: true});
"""

# Fill the shown item as a rater would end up: verdict A (or the first point of a
# 7-point scale), every rubric scale at its middle point, the same for both responses.
FILL = """
() => {
  const form = document.querySelector('#item-host form.item');
  const pick = (input) => {
    input.checked = true;
    input.dispatchEvent(new Event('change', {bubbles: true}));
  };
  const verdict = form.querySelector('[data-kind="verdict"] input[type=radio]');
  if (verdict) pick(verdict);
  form.querySelectorAll('[data-kind="likert"]').forEach((field) => {
    const points = field.querySelectorAll('input[type=radio]');
    pick(points[Math.floor((points.length - 1) / 2)]);
  });
}
"""

# Polled until the ``n``-th item form of this page load has been painted.
ARRIVED = "(n) => window.__items.length > n && Boolean(window.__items[n].frame)"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(name: str, values: list[float]) -> str:
    return (
        f"  {name:<28}{len(values):>5}{statistics.median(values):>10.1f}"
        f"{percentile(values, 0.95):>10.1f}{max(values):>10.1f}"
    )


def measure(browser: Any, base: str, slug: str, loads: int, rounds: int) -> dict[str, list]:
    """Sign in, load the screen ``loads`` times, then judge ``rounds`` items; return times."""
    context = browser.new_context(base_url=base, viewport={"width": 1366, "height": 768})
    context.add_init_script(WATCH)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Username").fill("bench0")
    page.get_by_label("Password").fill(bench_rater.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    first: list[float] = []
    for _ in range(loads + 1):  # the first load warms the server up and is not counted
        page.goto(f"/rate/{slug}")
        page.wait_for_function(ARRIVED, arg=0)
        first.append(page.evaluate("window.__items[0].frame"))
    first = first[1:]
    submit: list[float] = []
    for n in range(rounds + 1):
        count = page.evaluate("window.__items.length")
        page.evaluate(FILL)
        page.keyboard.press("Control+Enter")
        page.wait_for_function(ARRIVED, arg=count)
        if n:  # the first submission warms the server up
            submit.append(page.evaluate(f"window.__items[{count}].frame - window.__submitAt"))
    context.close()
    return {"time to first item": first, "submit to next item": submit}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200, help="items in the project")
    parser.add_argument("--loads", type=int, default=15, help="page loads timed")
    parser.add_argument("--rounds", type=int, default=40, help="submissions timed")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="rankroom-bench-browser-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    slug = bench_rater.seed(url, args.items, 1)
    server, base = bench_rater.start_gunicorn(url, tmp, args.workers)
    try:
        executable = os.environ.get("RANKROOM_CHROMIUM", "/usr/bin/chromium")
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=executable, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            times = measure(browser, base, slug, args.loads, args.rounds)
            browser.close()
        print(f"Chromium at 1366x768; gunicorn {args.workers} workers on SQLite; {ROOT}")
        print(f"  {'measure (ms)':<28}{'n':>5}{'p50':>10}{'p95':>10}{'max':>10}")
        for name, values in times.items():
            print(line(name, values))
        print("The machine may be shared: repeat the run and compare before trusting a digit.")
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
