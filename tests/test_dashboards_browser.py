"""Every dashboard page in Chromium on a seeded campaign: the figures shown are the API's."""

from __future__ import annotations

import pytest

from service.web.figures import num, pct
from tests.browser import screenshot, sign_in
from tests.demo_data import seed_campaign

pytestmark = pytest.mark.browser

BASE = "/projects/cardio-pairs/dashboard"
API = "/api/v1/projects/cardio-pairs/stats"


@pytest.fixture
def campaign(browser_app, browser_make):
    project, raters = seed_campaign(browser_app, browser_make)
    return {"project": project, "raters": raters}


@pytest.fixture
def admin_page(page, campaign):
    sign_in(page, "chief")
    return page


def _api(page, path, **params):
    """Fetch JSON with the browser's own session, as the page's scripts would."""
    response = page.request.get(path, params=params)
    assert response.ok, response.text()
    return response.json()


def _text(page, selector):
    return page.locator(selector).first.inner_text().strip()


def test_progress_page(admin_page):
    page = admin_page
    page.goto(f"{BASE}/")
    body = _api(page, f"{API}/progress")
    assert _text(page, '[data-figure="items.complete"]') == str(body["items"]["complete"])
    assert _text(page, '[data-figure="items.in_progress"]') == str(body["items"]["in_progress"])
    assert _text(page, '[data-figure="judgments.total"]') == str(body["judgments"]["total"])
    assert _text(page, '[data-figure="skips.rate"]') == pct(body["skips"]["rate"]["value"])
    assert _text(page, '[data-figure="pace.eta_date"]') == (body["pace"]["eta_date"] or "—")
    bars = page.locator("svg.chart rect.bar")
    assert bars.count() == len(body["per_day"])
    screenshot(page, "dashboard-progress")
    assert page.console_errors == []


def test_agreement_page_and_heatmap(admin_page):
    page = admin_page
    page.goto(f"{BASE}/agreement")
    body = _api(page, f"{API}/agreement")
    for entry in body["overall"]:
        row = page.locator(f'[data-figure="overall.{entry["key"]}"]')
        stat = entry["stat"]
        assert row.locator("[data-value]").inner_text() == num(stat["value"])
        assert (
            row.locator("[data-interval]").inner_text()
            == f"{num(stat['low'])} – {num(stat['high'])}"
        )
        assert row.locator("[data-n]").inner_text() == str(stat["n"])
    for dim in body["dimensions"]:
        for entry in dim["stats"]:
            cell = page.locator(f'[data-figure="{dim["name"]}.{entry["key"]}"] [data-value]')
            assert cell.inner_text() == num(entry["stat"]["value"])
    kappa = _api(page, f"{API}/kappa")
    page.wait_for_selector('#kappa-summary [data-figure="median_kappa"]')
    # Which raters share items depends on the random hand-out order, so a median may be
    # undefined; the page must then show a dash, as the API says null.
    median = kappa["median_kappa"]
    shown = "—" if median is None else f"{median:.3f}"
    assert _text(page, '#kappa-summary [data-figure="median_kappa"]') == shown
    assert _text(page, '#kappa-summary [data-figure="raters"]') == str(len(kappa["raters"]))
    # Hover the first row, second column: the tooltip names the pair and their kappa.
    canvas = page.locator("#kappa-heatmap")
    n = len(kappa["raters"])
    scale = (canvas.bounding_box()["width"] - 2) / (130 + 40 * n + 110)  # see drawHeatmap
    canvas.hover(position={"x": (130 + 1.5 * 40) * scale, "y": (130 + 0.5 * 40) * scale})
    tip = page.locator("#kappa-tip")
    tip.wait_for(state="visible")
    a, b = kappa["raters"][0]["name"], kappa["raters"][1]["name"]
    value = kappa["kappa"][0][1]
    if value is None:
        assert tip.inner_text().startswith(f"{a} × {b}")
    else:
        assert (
            tip.inner_text() == f"{a} × {b}: κ {value:.3f} on {kappa['shared'][0][1]} shared items"
        )
    screenshot(page, "dashboard-agreement")
    assert page.console_errors == []


def test_raters_page_flags_and_click_through(admin_page, campaign):
    page = admin_page
    page.goto(f"{BASE}/raters")
    body = _api(page, f"{API}/raters")
    rows = page.locator("#raters-table tbody tr")
    assert rows.count() == len(body["raters"])
    for r in body["raters"]:
        row = page.locator(f'#raters-table tr[data-rater="{r["id"]}"]')
        assert row.locator('[data-figure="judgments"]').inner_text() == str(r["judgments"])
        loo = row.locator('[data-figure="loo_agreement"]').inner_text().splitlines()[0]
        assert loo == pct(r["loo_agreement"]["value"])
        flags = row.locator('[data-figure="flags"] .flag').all_inner_texts()
        assert flags == r["flags"]
    by_name = {r["username"]: r for r in body["raters"]}
    assert "position bias" in by_name["lee_left"]["flags"]
    assert "too fast" in by_name["sam_fast"]["flags"]
    screenshot(page, "dashboard-raters")
    # Sorting by time puts the fastest rater first.
    page.get_by_role("columnheader", name="Time per item (p10–p90)").click()
    assert page.locator("#raters-table tbody tr").first.get_attribute("data-rater") == str(
        by_name["sam_fast"]["id"]
    )
    page.get_by_role("link", name="Lee Lefty").click()
    page.wait_for_load_state("networkidle")
    lee = by_name["lee_left"]
    detail = _api(page, f"{API}/raters/{lee['id']}/judgments")
    assert (
        _text(page, '[data-figure="count"]')
        == str(len(detail["judgments"]))
        == str(lee["judgments"])
    )
    screenshot(page, "dashboard-rater")
    assert page.console_errors == []


def test_items_page_and_adjudication(admin_page):
    page = admin_page
    page.goto(f"{BASE}/items")
    body = _api(page, f"{API}/items")
    rows = page.locator("#disputed tbody tr")
    assert rows.count() == len(body["disputed"])
    for k, row in enumerate(body["disputed"][:10]):
        shown = rows.nth(k).locator('[data-figure="agreement"]').inner_text()
        assert shown == num(row["agreement"], 2)
    screenshot(page, "dashboard-items")
    first = body["disputed"][0]
    page.get_by_role("link", name=first["external_id"], exact=True).first.click()
    page.wait_for_load_state("networkidle")
    item = _api(page, f"{API}/items/{first['item_id']}")
    assert page.locator('#judgments [data-figure="says"]').count() == len(item["judgments"])
    screenshot(page, "dashboard-item")
    best = item["responses"][0]["id"]
    page.get_by_label(f"{best} is better").check()
    page.get_by_label("Note", exact=True).fill("Checked against the guideline.")
    page.get_by_label("Promote to gold").check()
    overrule = page.get_by_label("I overrule the raters' majority")
    if overrule.count() and item["consensus"]["majority"] != {"preferred": best}:
        overrule.check()
    page.get_by_role("button", name="Record adjudication").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("status").inner_text() == "Adjudication recorded."
    after = _api(page, f"{API}/items/{first['item_id']}")
    assert after["adjudications"][0]["note"] == "Checked against the guideline."
    assert after["item"]["gold"] == {"preferred": best}
    assert "Checked against the guideline." in page.locator("#adjudications").inner_text()
    screenshot(page, "dashboard-item-adjudicated")
    assert page.console_errors == []


def test_cost_page_with_group_rates(admin_page):
    page = admin_page
    page.goto(f"{BASE}/cost")
    page.get_by_label("pharmacy").fill("90")
    page.get_by_label("Everyone else").fill("40")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state("networkidle")
    assert "rate.pharmacy=90" in page.url
    body = _api(page, f"{API}/cost", **{"rate.pharmacy": "90", "default_rate": "40"})
    for key in ("spend", "cost_per_judgment", "cost_per_finished_item", "projected_total"):
        assert _text(page, f'[data-figure="{key}"]') == num(body[key], 2)
    sources = {row["rate_source"] for row in body["per_rater"]}
    assert sources == {"own rate", "group: pharmacy", "default rate"}
    screenshot(page, "dashboard-cost")
    assert page.console_errors == []


def test_leaderboard_page(admin_page):
    page = admin_page
    page.goto(f"{BASE}/leaderboard")
    body = _api(page, f"{API}/leaderboard")
    rows = page.locator("#leaderboard tbody tr")
    assert [rows.nth(k).get_attribute("data-model") for k in range(rows.count())] == [
        m["model"] for m in body["models"]
    ]
    for m in body["models"]:
        row = page.locator(f'#leaderboard tr[data-model="{m["model"]}"]')
        assert row.locator('[data-figure="rating"]').inner_text() == num(m["rating"]["value"], 0)
        assert row.locator('[data-figure="comparisons"]').inner_text() == str(m["comparisons"])
    assert "Bradley–Terry" in page.locator("#method").inner_text()
    # The simulated strengths come through: the strongest model ranks above the weakest.
    # (Neighbours 0.8 apart can swap on 30 items: who judges what depends on the random
    # hand-out order.)
    order = [m["model"] for m in body["models"]]
    assert order.index("model-0") < order.index("model-3")
    screenshot(page, "dashboard-leaderboard")
    assert page.console_errors == []


def test_filters_carry_across_tabs_and_match_the_api(admin_page):
    page = admin_page
    page.goto(f"{BASE}/")
    page.get_by_label("Rater expertise").select_option("pharmacy")
    page.get_by_label("Gold items").select_option("exclude")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state("networkidle")
    body = _api(page, f"{API}/progress", expertise="pharmacy", gold="exclude")
    assert _text(page, '[data-figure="judgments.total"]') == str(body["judgments"]["total"])
    page.get_by_role("link", name="Raters", exact=True).click()
    page.wait_for_load_state("networkidle")
    assert "expertise=pharmacy" in page.url and "gold=exclude" in page.url
    names = page.locator("#raters-table tbody tr td:first-child a").all_inner_texts()
    assert sorted(names) == ["Dr. Cho Park", "Sam Quick"]
    screenshot(page, "dashboard-raters-filtered")
    assert page.console_errors == []


@pytest.mark.own_app
def test_dashboards_run_under_a_strict_csp(browser_app, campaign, page):
    @browser_app.after_request
    def _strict_csp(response):
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:"
        )
        return response

    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Refused" in m.text else None)
    sign_in(page, "chief")
    for tab in ("", "agreement", "raters", "leaderboard", "cost"):
        page.goto(f"{BASE}/{tab}")
        page.wait_for_load_state("networkidle")
    page.goto(f"{BASE}/agreement")
    page.wait_for_selector('#kappa-summary [data-figure="median_kappa"]')
    page.get_by_role("link", name="Raters", exact=True).click()
    page.get_by_role("columnheader", name="Judgments").click()  # the sorting script runs
    assert page.locator('th[aria-sort="ascending"]').count() == 1
    assert refused == [] and page.console_errors == []
