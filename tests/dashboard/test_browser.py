"""End to end in a real browser: `tuneforge serve` with the dashboard on loopback, Debian's headless
Chromium driven by Playwright through every page, asserting on what a person sees; screenshots are
saved under the test's tmp directory (printed on failure)."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from .conftest import Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
KEY = "browser-test-key"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason="Debian's chromium is not installed (scripts/setup.sh installs it as root: "
                                       "apt-get install chromium)")


def _monitor_db(path: Path) -> Path:
    """A sentiment-monitor database written by the monitor application itself: two topics, 16 hourly windows
    of already-labelled texts, and a surge of complaints about delivery in the last one (an alert)."""
    from tuneforge.apps.monitor.detect import DetectorOptions
    from tuneforge.apps.monitor.items import Item
    from tuneforge.apps.monitor.store import ingest
    t0 = 1_763_600_400  # 2025-11-20T01:00:00Z, a whole hour
    items = []
    for h in range(16):
        for i in range(20):
            neg_delivery = i < (18 if h == 15 else 2 + h % 2)
            items.append(Item(t0 + h * 3600 + i, "the parcel never came" if neg_delivery else "arrived on time",
                              "delivery", "negative" if neg_delivery else "positive"))
            items.append(Item(t0 + h * 3600 + i, "fair price", "price", "negative" if i < 4 else "positive"))
    ingest(path, items, detector=DetectorOptions(warmup=3, min_count=10), now=t0 + 16 * 3600)
    return path


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        # Debian's chromium, never a downloaded build; --no-sandbox because CI runs as root
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _registry(root: Path, runs_dir: Path) -> Path:
    """A registry of its own (the session one has other tests' requests in its log): v1 production, v2
    staging, 80/20 split."""
    from tuneforge.store.registry import Registry
    reg = Registry(root)
    reg.add("sentiment", runs_dir / "sentiment-v1", stage="production")
    reg.add("sentiment", runs_dir / "sentiment-v2", stage="staging")
    reg.set_traffic("sentiment", {"1": 80, "2": 20})
    return root


def test_every_page_in_a_real_browser(browser, runs_dir, tmp_path, monkeypatch):
    from playwright.sync_api import expect

    from tuneforge.server import ServeOptions, create_app
    monkeypatch.setenv("TUNEFORGE_DASHBOARD_RUNS", str(runs_dir))
    monkeypatch.setenv("TUNEFORGE_MONITOR_DB", str(_monitor_db(tmp_path / "monitor.db")))
    monkeypatch.setenv("TUNEFORGE_API_KEY", KEY)  # the dashboard inside `tuneforge serve` needs the server's key
    shots = tmp_path / "screenshots"
    shots.mkdir()
    registry_dir = _registry(tmp_path / "registry", runs_dir)
    with Server(create_app(ServeOptions(registry=str(registry_dir), poll_s=0, monitor_s=0)), "/readyz") as s:
        for i in range(6):  # some served traffic, so the registry and drift sections have numbers
            assert httpx.post(s.url + "/v1/models/sentiment/predict", timeout=60,
                              json={"texts": [f"the cast was lovely {i}"], "caller_id": f"c{i}"}).status_code == 200
        s.app.state.serve.requestlog.flush()
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        main = page.locator("main")

        # without the key the page loads but shows no data, only how to get in
        page.goto(s.url + "/#/runs")
        expect(page.get_by_role("alert")).to_contain_text("needs its key", timeout=60_000)
        assert "runs/sentiment-v1" not in page.locator("main").inner_text()
        # the login URL: the key becomes an HttpOnly cookie and leaves the address bar
        page.goto(s.url + "/?token=" + KEY)
        assert page.url == s.url + "/"
        assert [c["httpOnly"] for c in page.context.cookies()] == [True]
        assert KEY not in page.evaluate("document.cookie")

        def visit(hash_: str, shot: str, heading: str):
            page.goto(s.url + "/" + hash_)
            expect(page.get_by_role("heading", level=1)).to_contain_text(heading, timeout=60_000)
            page.screenshot(path=str(shots / f"{shot}.png"), full_page=True)

        visit("#/runs", "runs", "Runs")
        expect(page.get_by_role("navigation").get_by_role("link", name="Runs", exact=True)).to_have_attribute("aria-current", "page")
        for run in ("runs/sentiment-v1", "runs/sentiment-v2", "registry/sentiment/v1"):
            expect(main).to_contain_text(run)
        expect(main).to_contain_text("train.epochs (differs)")
        expect(page.get_by_role("img", name="Validation score per epoch")).to_be_visible()
        expect(page.locator("table").first.locator("thead th")).to_have_count(1 + 5)  # key + every run
        page.get_by_role("checkbox", name="registry/sentiment/v2").uncheck()  # a run leaves the table
        expect(page.locator("table").first.locator("thead th")).to_have_count(1 + 4)

        visit("#/run/" + "runs%2Fsentiment-v1", "run", "Run runs/sentiment-v1")
        expect(main).to_contain_text("test examples: rows are the true label")
        expect(main).to_contain_text("true ↓ · predicted →")
        expect(page.get_by_role("heading", name="Worst mistakes")).to_be_visible()
        expect(page.get_by_role("img", name="Loss per epoch")).to_be_visible()
        visit("#/run/" + "runs%2Fner%2Fpeople-places", "run-ner", "Run runs/ner/people-places")
        expect(main).to_contain_text("test words")
        expect(page.locator("table.cm thead th")).to_contain_text(["true ↓ · predicted →", "O"])

        visit("#/registry", "registry", "Registry")
        expect(main).to_contain_text("Live split (traffic split): v1 80 % · v2 20 %")
        expect(main).to_contain_text("production")
        expect(main).to_contain_text("staging")
        expect(main).to_contain_text("Requests in the last 24 hours: 6 logged texts")

        visit("#/monitor", "monitor", "Monitor")
        expect(main).to_contain_text("Topic: delivery")
        expect(main).to_contain_text("alert(s)")
        expect(main).to_contain_text("the parcel never came")
        expect(page.get_by_role("img", name="Negative share per window, by topic")).to_be_visible()
        expect(main).to_contain_text("sentiment: 6 texts since")
        expect(page.get_by_role("img", name="sentiment: PSI of predicted labels per window")).to_be_visible()

        visit("#/playground", "playground", "Playground")
        page.get_by_label("Model").select_option(label="sentiment (served) – text-classification")
        page.get_by_label("Text").fill("the movie was excellent")
        page.get_by_role("button", name="Predict").click()
        expect(main).to_contain_text("Label:", timeout=60_000)
        expect(main.get_by_role("listitem")).to_have_count(2)  # one probability row per label, with its number
        expect(main.get_by_role("listitem").first).to_contain_text("%")
        page.screenshot(path=str(shots / "playground-text.png"), full_page=True)

        page.get_by_label("Model").select_option(label="runs/ner/people-places (run) – token-classification")
        page.get_by_label("Text").fill("张三在北京的公司")
        page.get_by_role("button", name="Predict").click()
        expect(page.get_by_role("heading", name="Entities")).to_be_visible(timeout=120_000)
        ner = page.locator("p.ner")
        # the sentence is shown whole; each entity is a <mark> followed by its type as text
        marks = ner.locator("mark")
        text = ner.inner_text().replace("\n", "")
        for i in range(marks.count()):
            tag = marks.nth(i).locator(".tag").inner_text()
            assert tag in ("PER", "LOC")
            text = text.replace(tag, "", 1)
        assert text.replace(" ", "") == "张三在北京的公司"
        page.screenshot(path=str(shots / "playground-ner.png"), full_page=True)

        page.get_by_label("Model").select_option(label="runs/sentiment-v1 (run) – text-classification")
        page.get_by_label("Text").fill("   ")
        page.get_by_role("button", name="Predict").click()
        expect(page.get_by_role("alert")).to_contain_text("texts[0] is empty")
        assert not errors, errors
    assert len(list(shots.glob("*.png"))) == 8
