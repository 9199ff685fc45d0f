"""`rankroom serve --demo` on a fresh instance: migrates, loads demo data, serves, signs in."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import flask

from service.cli import main, serve
from service.cli.demo import load_demo
from service.cli.serve import default_workers

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_demo_answers_readyz_and_demo_logins_work(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "RANKROOM_INSTANCE_PATH": str(tmp_path / "instance"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("RANKROOM_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--demo", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            output.append(line)
            if "Serving on" in line or proc.poll() is not None:
                break
        text = "".join(output)
        assert "Serving on" in text, text
        # SQLite, no --workers: one worker per core.
        assert f"with {len(os.sched_getaffinity(0))} worker(s)" in text, text
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("readyz never answered")
        assert re.search(r"Project demo-coding-pairwise \(pairwise\): \d+ new item", text)
        password = re.search(r"rater\s+rater1\s+(\S+)", text).group(1)
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(f"http://127.0.0.1:{port}/login").read().decode()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = urlencode({"username": "rater1", "password": password, "csrf_token": csrf}).encode()
        home = opener.open(f"http://127.0.0.1:{port}/login", data=form)
        assert home.status == 200 and home.url.endswith("/")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stdout.close()


def test_default_workers_one_per_core():
    assert default_workers() == len(os.sched_getaffinity(0))


def test_every_demo_project_shows_agreement(app, client, make):
    """The demo's sample judgments give every project defined agreement, kappa and disputes."""
    lines = list(load_demo(prompts_dir=app.config["PROMPTS_DIR"]))
    assert re.search(
        r"Recorded history: [1-9]\d* new judgments by 4 simulated raters over 6 days",
        "\n".join(lines),
    )
    assert "Recorded history: 0 new judgments by 4 simulated raters over 6 days." in list(
        load_demo(prompts_dir=app.config["PROMPTS_DIR"])
    )  # loading again judges nothing twice
    _, secret = make.token(make.user("admin"), ["stats"])
    headers = {"Authorization": f"Bearer {secret}"}
    slugs = [c["slug"] for c in json.loads((ROOT / "prompts/demo/projects.json").read_text())]
    assert len(slugs) >= 6 and {"demo-tool-use-pairwise", "demo-images-pairwise"} <= set(slugs)
    for slug in slugs:

        def report(name: str, slug: str = slug) -> dict:
            response = client.get(f"/api/v1/projects/{slug}/stats/{name}", headers=headers)
            assert response.status_code == 200, response.get_json()
            return response.get_json()

        agreement = report("agreement")
        stats = agreement["overall"] + [s for d in agreement["dimensions"] for s in d["stats"]]
        assert stats, slug
        undefined = [(s["key"], s["on"], s["stat"]) for s in stats if s["stat"]["value"] is None]
        assert undefined == [], slug
        kappa = report("kappa")
        assert kappa["defined_pairs"] >= 1 and kappa["median_kappa"] is not None, slug
        assert report("items")["compared_items"] > 0, slug
    # The judged project: its simulated model judge beside the humans.
    judges = report("agreement", "demo-coding-pairwise")["judges"]
    (judge,) = judges["judges"]
    assert judge["name"] == "demo-judge" and judge["raters"], judges
    assert [e["stat"]["value"] is not None for e in judge["overall"]] == [True] * 3
    assert 0 < judge["position_consistency"]["rate"] < 1
    assert [b["source"] for b in judges["leaderboards"]] == ["humans", "demo-judge"]


def test_the_demo_history_fills_every_report_and_the_doctor_finds_nothing(app, client, make):
    """Several days, four raters who differ: every report has figures on first start."""
    list(load_demo(prompts_dir=app.config["PROMPTS_DIR"]))
    _, secret = make.token(make.user("admin"), ["stats", "admin"])
    headers = {"Authorization": f"Bearer {secret}"}

    def report(name: str, slug: str) -> dict:
        response = client.get(f"/api/v1/projects/{slug}/stats/{name}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    doctor = client.get("/api/v1/doctor", headers=headers).get_json()
    assert (doctor["ok"], doctor["drift"]) == (True, [])
    for slug in ("demo-coding-pairwise", "demo-expert-ranking", "demo-expert-pairwise-7pt"):
        progress = report("progress", slug)
        days = [d for d in progress["per_day"] if d["judgments"] > 0]
        assert len(days) >= 5, (slug, progress["per_day"])
        raters = {r["username"]: r for r in report("raters", slug)["raters"]}
        assert {"sim-ana", "sim-ben", "sim-cy", "sim-dee"} <= set(raters), slug
        medians = {u: raters[u]["time"]["quantiles"]["p50"] for u in ("sim-ana", "sim-dee")}
        assert medians["sim-ana"] > 4 * medians["sim-dee"], slug  # speeds differ
        assert any(r["gold_accuracy"]["value"] is not None for r in raters.values()), slug
        if slug != "demo-expert-ranking":
            assert raters["sim-cy"]["position_bias"]["value"] is not None, slug
        assert report("items", slug)["disputed"], slug
        cost = report("cost", slug)
        assert cost["per_day"] and cost["per_rater"], slug
        leaderboard = report("leaderboard", slug)
        assert [m for m in leaderboard["models"] if m["rating"]["value"] is not None], slug


def _current_g():
    return flask.g._get_current_object() if flask.has_app_context() else None


def test_serve_starts_gunicorn_outside_the_app_context_of_its_start_up(app, runner, monkeypatch):
    """Flask reuses an active context of the same app for each request, so one still open
    when the workers fork would share ``g`` between every request of a worker."""
    seen = {}

    def run(self):
        seen["g"], seen["options"] = _current_g(), self.settings

    monkeypatch.setattr(serve._Gunicorn, "run", run)
    # In a thread of its own, as the command runs: no context of the test's is active there.
    done = {}
    thread = threading.Thread(
        target=lambda: done.setdefault(
            "result", runner.invoke(main, ["serve", "--port", "8123", "--workers", "3"])
        )
    )
    thread.start()
    thread.join(timeout=60)
    assert done["result"].exit_code == 0, done["result"].output
    assert seen["g"] is None
    assert seen["options"] == {
        "bind": "127.0.0.1:8123",
        "workers": 3,
        "accesslog": "-",
        "post_worker_init": serve._report_liveness,
    }
