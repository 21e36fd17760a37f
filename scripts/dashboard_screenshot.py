"""Save a screenshot of the dashboard (docs/dashboard.png for the README) with Debian's headless Chromium.

    .venv/bin/python scripts/dashboard_screenshot.py --runs runs/ [--registry DIR] [--page runs] \
        [--output docs/dashboard.png]

Starts `tuneforge dashboard` in this process on a free loopback port, opens the page, waits for its
charts, and writes a PNG (optimised by Pillow: the README image should stay small).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import threading
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", required=True)
    ap.add_argument("--registry")
    ap.add_argument("--monitor-db")
    ap.add_argument("--page", default="runs", help="runs | registry | monitor | playground | run/ID")
    ap.add_argument("--output", default="docs/dashboard.png")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=1000)
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    a = ap.parse_args(argv)

    import httpx
    import uvicorn
    from PIL import Image
    from playwright.sync_api import expect, sync_playwright

    from tuneforge.dashboard.app import create_dashboard_app

    app = create_dashboard_app(a.runs, a.registry, a.monitor_db)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    for _ in range(600):
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    out = Path(a.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": a.width, "height": a.height})
        page.goto(f"{url}/?token={app.state.dashboard_key}")  # the login URL: the dashboard's data needs its key
        page.goto(f"{url}/#/{a.page}")
        expect(page.locator("main h1")).to_be_visible(timeout=60_000)
        page.wait_for_function("!document.querySelector('main').hasAttribute('aria-busy')", timeout=120_000)
        page.screenshot(path=str(out))
        browser.close()
    server.should_exit = True
    # A palette PNG: a screenshot of flat colours loses nothing visible and shrinks several times.
    Image.open(out).convert("RGB").quantize(colors=64).save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
