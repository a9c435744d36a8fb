"""Checking the report as a person would: open it in headless Chromium, read what the page shows, take a screenshot.

No browser-automation package is needed: a copy of the report gets a small script at the top of its ``<head>`` that
records errors (uncaught exceptions, ``console.error``, ``alert`` calls), and after the page has loaded writes what it
found into the page as JSON; Chromium's ``--dump-dom`` prints the page, and the JSON is read back from it.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio")

#: runs before anything else in the page; the result lands in <pre id="__report_check">
CHECK_SCRIPT = """<script>
window.__errors = []; window.__alerts = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message || e)); });
(function () {
  var error = console.error;
  console.error = function () {
    window.__errors.push(Array.prototype.join.call(arguments, " "));
    error.apply(console, arguments);
  };
})();
window.alert = function (m) { window.__alerts.push(String(m)); };
window.addEventListener("load", function () {
  var out = {errors: window.__errors, alerts: window.__alerts};
  out.images = Array.prototype.map.call(document.images, function (i) { return {alt: i.alt, width: i.naturalWidth}; });
  out.ids = Array.prototype.map.call(document.querySelectorAll("[id]"), function (e) { return e.id; });
  out.headings = Array.prototype.map.call(document.querySelectorAll("h2, h3"), function (h) { return h.textContent; });
  out.text = document.body.innerText;
  out.samples_shown = Array.prototype.filter.call(document.querySelectorAll(".sample"),
    function (c) { return !c.hidden; }).length;
  out.samples = document.querySelectorAll(".sample").length;
  // the summary that opens the report: its rows, verdicts, where it sits, and what comes first in the page
  var summary = document.getElementById("summary");
  out.summary = summary ? {
    rows: summary.querySelectorAll("tbody tr").length,
    verdicts: Array.prototype.map.call(summary.querySelectorAll("td[class^='verdict-']"),
      function (c) { return c.textContent; }),
    top: summary.getBoundingClientRect().top, bottom: summary.getBoundingClientRect().bottom} : null;
  out.first_section = (document.querySelector("section") || {}).id || null;
  // open the first collapsed table as a reader would, by clicking its summary line
  var details = document.querySelectorAll("details.table");
  out.details = null;
  if (details.length) {
    var inner = details[0].querySelector("table"), link = details[0].querySelector("summary a");
    var shown = function () { return inner.checkVisibility() && inner.getBoundingClientRect().height > 0; };
    var before = shown();
    details[0].querySelector("summary").click();
    out.details = {count: details.length, shown_closed: before, shown_open: shown(), open: details[0].open,
      height_open: inner.getBoundingClientRect().height, csv: link ? link.getAttribute("href") : null,
      caption: details[0].querySelector("summary").textContent};
  }
  // sort the first table with a numeric column by clicking its header, as a reader would
  out.sorted = null;
  var tables = document.querySelectorAll("table.data");
  for (var t = 0; t < tables.length && out.sorted === null; t++) {
    var table = tables[t];
    if (!table.tHead || !table.tBodies.length || table.tBodies[0].rows.length < 3) { continue; }
    var header = table.tHead.rows[table.tHead.rows.length - 1];
    for (var c = 0; c < header.cells.length; c++) {
      var values = Array.prototype.map.call(table.tBodies[0].rows, function (r) {
        return parseFloat(r.cells[c] ? r.cells[c].textContent : ""); });
      if (values.some(isNaN)) { continue; }
      header.cells[c].click();
      var after = Array.prototype.map.call(table.tBodies[0].rows, function (r) {
        return parseFloat(r.cells[c].textContent); });
      var ascending = after.every(function (v, i) { return i === 0 || after[i - 1] <= v; });
      out.sorted = {column: header.cells[c].textContent, ascending: ascending, rows: after.length};
      break;
    }
  }
  var pre = document.createElement("pre"); pre.id = "__report_check"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable on ``PATH``, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _with_check(report: Path, folder: Path) -> Path:
    text = report.read_text(encoding="utf-8")
    head = re.search(r"<head[^>]*>", text, flags=re.IGNORECASE)
    if head is None:
        raise ValueError(f"{report} has no <head>: not an HTML page")
    page = folder / "page.html"
    page.write_text(text[: head.end()] + CHECK_SCRIPT + text[head.end() :], encoding="utf-8")
    return page


def _run_chromium(chromium: str, *args: str, timeout: float) -> subprocess.CompletedProcess:
    """Headless Chromium (``FLAGS``) with a throw-away profile and ``args``, its output captured."""
    with tempfile.TemporaryDirectory() as tmp:
        return subprocess.run(
            [chromium, *FLAGS, f"--user-data-dir={tmp}/profile", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def inspect_report(report: str | Path, chromium: str, timeout: float = 120) -> dict:
    """What the report shows in headless Chromium: ``errors`` (console errors and uncaught exceptions), ``alerts``,
    ``images`` (alt, naturalWidth), element ``ids``, ``headings``, the visible ``text``, ``samples`` and
    ``samples_shown`` (the per-sample browser), ``summary`` (the opening summary's rows, verdicts, top and bottom in
    pixels), ``first_section`` (the id of the page's first section), ``details`` (the collapsed tables: how many, and
    whether the first one's table is shown before and after a click on its summary line, its CSV link) and ``sorted`` (a
    numeric column after clicking its header)."""
    report = Path(report).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        page = _with_check(report, Path(tmp))
        run = _run_chromium(chromium, "--virtual-time-budget=10000", "--dump-dom", page.as_uri(), timeout=timeout)
    found = re.search(r'<pre id="__report_check">(.*?)</pre>', run.stdout, flags=re.DOTALL)
    if found is None:
        raise RuntimeError(f"Chromium did not render {report} (status {run.returncode}): {run.stderr[-2000:]}")
    return json.loads(html.unescape(found.group(1)))


def screenshot(
    report: str | Path, out: str | Path, chromium: str, size: Sequence[int] = (1280, 900), timeout: float = 120
) -> Path:
    """A PNG of the report's first screen (``size`` = width, height in pixels) at ``out``."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    run = _run_chromium(
        chromium,
        f"--window-size={size[0]},{size[1]}",
        f"--screenshot={out}",
        Path(report).resolve().as_uri(),
        timeout=timeout,
    )
    if run.returncode or not out.is_file():
        raise RuntimeError(f"Chromium could not screenshot {report} (status {run.returncode}): {run.stderr[-2000:]}")
    return out
