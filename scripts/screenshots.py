"""Screenshots of every screen at a laptop's and a phone's size, on the demo.

Starts ``rankroom serve --demo`` on a throwaway instance, signs in as the demo's rater and
admin in Debian's Chromium (RANKROOM_CHROMIUM, default /usr/bin/chromium) and saves one
PNG per screen and size into ``docs/screenshots/`` (or --out). The README shows a few.

    python scripts/screenshots.py [--out DIR] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"laptop": (1366, 768), "phone": (390, 844)}
CODING = "demo-coding-pairwise"
# (name, who, path, what to wait for[, keys to press then]). {rater} is the rater's user id.
SCREENS: list[tuple] = [
    ("login", None, "/login", "form"),
    ("rater-home", "rater", "/rate", "main"),
    ("rate-pairwise", "rater", f"/rate/{CODING}", ".response"),
    ("rate-ranking", "rater", "/rate/demo-expert-ranking", ".response"),
    ("rate-7-point", "rater", "/rate/demo-expert-pairwise-7pt", ".response"),
    ("rate-rating", "rater", "/rate/demo-all-rating", ".response"),
    # The verdict (1), then the rewrite editor (N) on the preferred response.
    ("rate-rewrite", "rater", f"/rate/{CODING}", ".response", ["1", "n"]),
    ("dashboard-progress", "admin", f"/projects/{CODING}/dashboard/", "main"),
    ("dashboard-agreement", "admin", f"/projects/{CODING}/dashboard/agreement", "main"),
    ("dashboard-raters", "admin", f"/projects/{CODING}/dashboard/raters", "main"),
    ("dashboard-rater", "admin", f"/projects/{CODING}/dashboard/raters/{{rater}}", "main"),
    ("dashboard-items", "admin", f"/projects/{CODING}/dashboard/items", "main"),
    ("dashboard-cost", "admin", f"/projects/{CODING}/dashboard/cost", "main"),
    ("dashboard-leaderboard", "admin", f"/projects/{CODING}/dashboard/leaderboard", "main"),
    ("dashboard-active-time", "admin", f"/projects/{CODING}/dashboard/active-time", "main"),
    ("projects", "admin", "/admin/projects", "main"),
    ("project", "admin", f"/admin/projects/{CODING}", "main"),
    ("guidelines", "admin", f"/admin/projects/{CODING}/guidelines", "main"),
    ("people", "admin", "/admin/users", "main"),
    ("person", "admin", "/admin/users/{rater}", "main"),
    ("tokens", "admin", "/admin/tokens", "main"),
    ("audit", "admin", "/admin/audit", "main"),
    ("sources", "admin", "/admin/sources", "main"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo(tmp: Path) -> tuple[subprocess.Popen, str, dict[str, str]]:
    """Serve the demo; return the server, its base URL and the demo logins (name -> password)."""
    port = free_port()
    env = {**os.environ, "RANKROOM_INSTANCE_PATH": str(tmp), "PYTHONPATH": str(ROOT)}
    env.pop("RANKROOM_DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--demo", "--port", str(port)],
        env=env,
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    while not any("Serving on" in line for line in lines):
        line = server.stdout.readline()
        if not line:
            raise SystemExit("the demo did not start:\n" + "".join(lines))
        lines.append(line)
    logins = dict(re.findall(r"^\s+\w+\s+(admin|rater1)\s+(\S+)$", "".join(lines), re.MULTILINE))
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/readyz").read()
            break
        except OSError:
            time.sleep(0.1)
    return server, base, logins


def sign_in(context, base: str, username: str, password: str):  # noqa: ANN001, ANN201
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", nargs="*", help="screen names to take (default: all)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="rankroom-shots-"))
    server, base, logins = start_demo(tmp)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=os.environ.get("RANKROOM_CHROMIUM", "/usr/bin/chromium"),
                args=["--no-sandbox", "--disable-gpu"],
            )
            for size, (width, height) in SIZES.items():
                pages = {}
                for who, user in (("rater", "rater1"), ("admin", "admin")):
                    context = browser.new_context(viewport={"width": width, "height": height})
                    context.set_default_timeout(90_000)  # a busy machine: slow, not broken
                    pages[who] = sign_in(context, base, user, logins[user])
                anonymous = browser.new_context(viewport={"width": width, "height": height})
                pages[None] = anonymous.new_page()
                rater_id = _user_id(pages["admin"], base, "rater1")
                for name, who, path, ready, *keys in SCREENS:
                    if args.only and name not in args.only:
                        continue
                    page = pages[who]
                    page.goto(base + path.format(rater=rater_id))
                    page.wait_for_selector(ready)
                    page.wait_for_load_state("networkidle")
                    for key in keys[0] if keys else ():
                        page.keyboard.press(key)
                    if keys:
                        page.wait_for_timeout(1000)  # a preview waits for typing to pause
                        page.wait_for_load_state("networkidle")
                    target = args.out / f"{name}-{size}.png"
                    page.screenshot(path=str(target), full_page=False)
                    print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=40)  # gunicorn lets requests in progress finish first
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def _user_id(page, base: str, username: str) -> int:  # noqa: ANN001
    """Read a user's id from the people page's link to them."""
    page.goto(base + "/admin/users")
    href = page.locator(f"a:has-text('{username}')").first.get_attribute("href") or ""
    found = re.search(r"/admin/users/(\d+)", href)
    if not found:
        raise SystemExit(f"no link to {username} on the people page")
    return int(found.group(1))


if __name__ == "__main__":
    main()
