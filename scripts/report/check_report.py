#!/usr/bin/env python3
"""Renders an Outpost HTML report in headless Chromium through the DevTools protocol and
checks it as a person would see it.

Fails (exit 1) when the page logs a console error or an uncaught exception, loads anything
that is not a data: URI, contains a script, has a broken image, or has a chart
(<svg class="chart">) without data marks in the DOM or, where the chart is visible, without
coloured pixels in the screenshot. Writes a full-page PNG screenshot.

Usage: check_report.py REPORT.html SCREENSHOT.png [--max-height PIXELS] [--expanded PNG]
Needs: chromium, python3-websocket, python3-pil, python3-numpy (Debian packages).
"""
import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import base64

import numpy as np
import websocket
from PIL import Image

WIDTH = 1280
HEIGHT = 2400


def find_browser():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("check_report: no Chromium found (Debian: apt-get install -y chromium)")


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, url):
        self.ws = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        ident = self.next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for event in self.events:
                if event["method"] == method:
                    return event
            self.ws.settimeout(max(deadline - time.time(), 0.1))
            try:
                message = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                break
            if "method" in message:
                self.events.append(message)
        raise RuntimeError(f"timed out waiting for {method}")

    def drain(self, seconds):
        """Collects events for a short while (late console messages)."""
        self.ws.settimeout(0.1)
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                message = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            if "method" in message:
                self.events.append(message)
        self.ws.settimeout(60)


INSPECT = r"""
(() => {
  const charts = [...document.querySelectorAll('svg.chart')].map((svg, i) => {
    const r = svg.getBoundingClientRect();
    return {index: i, marks: svg.querySelectorAll('.mark').length,
            caption: (svg.closest('figure')?.querySelector('figcaption')?.textContent || ''),
            x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height};
  });
  const images = [...document.images].map(img => ({
    complete: img.complete, width: img.naturalWidth, dataURI: img.src.startsWith('data:')}));
  const external = performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('data:'));
  return JSON.stringify({
    charts, images, external,
    scripts: document.scripts.length,
    noData: document.querySelectorAll('.no-data').length,
    tables: document.querySelectorAll('table.metrics').length,
    height: Math.ceil(document.documentElement.scrollHeight),
  });
})()
"""


def screenshot(tools, height):
    """A full-page screenshot as a PIL image (the viewport grown to the page's height)."""
    height = min(height, 30000)
    tools.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=height, deviceScaleFactor=1, mobile=False)
    shot = tools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                      clip={"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1})
    return Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report")
    parser.add_argument("screenshot")
    parser.add_argument("--max-height", type=int, default=0,
                        help="crop the saved screenshot to this height (0: the whole page)")
    parser.add_argument("--expanded", metavar="PNG",
                        help="also save a full-page screenshot with every <details> open")
    args = parser.parse_args()
    report = os.path.abspath(args.report)
    if not os.path.isfile(report):
        sys.exit(f"check_report: no report at {report}")

    profile = tempfile.mkdtemp(prefix="outpost-report-chromium-")
    command = [find_browser(), "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               "--remote-debugging-port=0", "--remote-allow-origins=*", f"--user-data-dir={profile}",
               f"--window-size={WIDTH},{HEIGHT}", "about:blank"]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")
    browser = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    failures = []
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.time() + 60
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if time.time() > deadline or browser.poll() is not None:
                sys.exit("check_report: Chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = open(port_file).read().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30))
        page = next(t for t in targets if t.get("type") == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log"):
            tools.call(f"{domain}.enable")
        tools.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
        tools.call("Page.navigate", url="file://" + report)
        tools.wait_for("Page.loadEventFired", timeout=60)
        tools.drain(0.5)

        info = json.loads(tools.call("Runtime.evaluate", expression=INSPECT, returnByValue=True)["result"]["value"])
        # Pass 1: the page as a person first sees it (closed <details>): the saved screenshot.
        image = screenshot(tools, info["height"])
        # Pass 2: every <details> opened, so that each chart is on screen for the pixel check.
        tools.call("Runtime.evaluate", expression="document.querySelectorAll('details').forEach(d => d.open = true)")
        expanded_info = json.loads(tools.call("Runtime.evaluate", expression=INSPECT, returnByValue=True)["result"]["value"])
        expanded = screenshot(tools, expanded_info["height"])
        tools.drain(0.3)

        # Console errors, uncaught exceptions, and errors the browser logs (CSP, loading).
        for event in tools.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                failures.append(f"console.{params['type']}: {text}")
            elif event["method"] == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                description = details.get("exception", {}).get("description", "")
                failures.append(f"uncaught exception: {details.get('text')} {description}".strip())
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                failures.append(f"browser log error ({params['entry'].get('source')}): {params['entry'].get('text')}")

        if info["scripts"]:
            failures.append(f"{info['scripts']} script element(s): the report must not need JavaScript")
        for name in expanded_info["external"]:
            failures.append(f"external resource loaded: {name}")
        for i, img in enumerate(expanded_info["images"]):
            if not img["dataURI"]:
                failures.append(f"image {i} is not a data: URI")
            if not img["complete"] or img["width"] == 0:
                failures.append(f"image {i} is broken (does not decode)")

        pixels = np.asarray(expanded).astype(np.int16)
        for chart in expanded_info["charts"]:
            label = f"chart {chart['index']} ({chart['caption'].strip()!r})"
            if chart["marks"] == 0:
                failures.append(f"{label} has no data marks (blank chart)")
            x0, y0 = int(chart["x"]), int(chart["y"])
            x1, y1 = int(chart["x"] + chart["width"]), int(chart["y"] + chart["height"])
            region = pixels[y0:y1, x0:x1]
            if region.size == 0:
                failures.append(f"{label} is not on screen ({chart['width']}×{chart['height']} at {x0},{y0})")
                continue
            # Data marks are drawn in palette colours; axes, grid and text are grey.
            saturation = region.max(axis=2) - region.min(axis=2)
            coloured = int((saturation > 60).sum())
            if coloured < 40:
                failures.append(f"{label} looks blank: {coloured} coloured pixels in {x1 - x0}×{y1 - y0}")

        if args.max_height and image.height > args.max_height:
            image = image.crop((0, 0, image.width, args.max_height))
        os.makedirs(os.path.dirname(os.path.abspath(args.screenshot)), exist_ok=True)
        image.save(args.screenshot, optimize=True)
        if args.expanded:
            expanded.save(args.expanded, optimize=True)

        print(f"check_report: {report}")
        print(f"  page {WIDTH}×{info['height']} px ({expanded_info['height']} px with every <details> open); "
              f"{len(expanded_info['charts'])} charts, all pixel-checked; "
              f"{len(info['images'])} embedded images, {info['tables']} metric tables, {info['noData']} 'no data' notes")
        print(f"  screenshot: {args.screenshot} ({image.width}×{image.height})")
    finally:
        browser.kill()
        browser.wait()
        shutil.rmtree(profile, ignore_errors=True)

    if failures:
        for failure in failures:
            print(f"FAIL: {failure}", file=sys.stderr)
        sys.exit(1)
    print("check_report: OK (no console errors, no external resources, every chart has data marks)")


if __name__ == "__main__":
    main()
