#!/usr/bin/env python3
# SPDX-License-Identifier: BSL-1.0
"""Draws the headline figures of docs/benchmarks.md as SVG files in docs/img/, for README.

Usage: bench/plot.py [BENCHMARKS_MD] [OUTPUT_DIR]

Reads the tables that bench/run.sh --update-docs wrote into the "Latest run" part of
docs/benchmarks.md (between its <!-- latest-run NAME: begin/end --> markers), so the pictures show
exactly the figures printed there, from the same run; run.sh calls this after every update. Plain
SVG written by hand: no plotting library is needed. A section missing from the document (a benchmark
not run) leaves its picture as it was, and says so.

  worker_pool_rss.svg  RSS over ebb's shrink passes and Go's runtime.GC() calls, and Go's RSS after
  switch_create.svg    context switch and create + run + destroy, ns, by library
  idle_memory.svg      memory per idle fiber (RSS + page tables), by kind of fiber and by Go
"""
import html
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLORS = ["#1f6fb2", "#e07b20", "#2a9d4b", "#b23a48", "#7a5195", "#6c757d"]
FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'


def section(text, name):
    m = re.search(r"<!-- latest-run %s: begin -->(.*?)<!-- latest-run %s: end -->" % (name, name), text, re.S)
    return m.group(1) if m else None


def tables(block):
    """Every Markdown table in block, as lists of rows of cells (header row first, rule row dropped)."""
    found, current = [], []
    for line in block.split("\n"):
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells if c):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


def table_with(block, first_header):
    for t in tables(block):
        if t and t[0] and t[0][0] == first_header:
            return t
    return None


def number(cell):
    m = re.match(r"-?[0-9.]+", cell.replace(",", ""))
    return float(m.group(0)) if m else None


def text(x, y, s, size=12, anchor="start", weight="normal", color="#222"):
    return '<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" font-weight="%s" fill="%s" %s>%s</text>' % (
        x, y, size, anchor, weight, color, FONT, html.escape(s))


def svg(width, height, body, title):
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">\n'
            '<title>%s</title>\n<rect width="100%%" height="100%%" fill="white"/>\n%s\n</svg>\n'
            % (width, height, width, height, html.escape(title), "\n".join(body)))


def bar_chart(title, subtitle, groups, unit, width=760):
    """groups: [(group label, [(bar label, value), ...]), ...] drawn as horizontal bars."""
    left, right, top, bar_h, gap = 290, 90, 62, 20, 6
    rows = sum(len(bars) for _, bars in groups)
    height = top + rows * (bar_h + gap) + len(groups) * 28 + 20
    peak = max(v for _, bars in groups for _, v in bars)
    scale = (width - left - right) / peak
    body = [text(16, 26, title, 16, weight="bold"), text(16, 46, subtitle, 11, color="#555")]
    y = top
    for group, bars in groups:
        body.append(text(16, y + 14, group, 12, weight="bold"))
        y += 22
        for label, value in bars:
            color = COLORS[0] if label.startswith("ebb") else COLORS[1]  # ebb blue, the others orange
            body.append(text(left - 8, y + bar_h - 5, label, 12, anchor="end"))
            body.append('<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="%s"/>' % (
                left, y, max(1.0, value * scale), bar_h, color))
            body.append(text(left + value * scale + 6, y + bar_h - 5, "%s %s" % (fmt(value), unit), 12))
            y += bar_h + gap
        y += 6
    return svg(width, height, body, title)


def fmt(v):
    return "%.0f" % v if v >= 100 else ("%.1f" % v if v >= 10 else "%.2f" % v)


def line_chart(title, subtitle, steps, series, unit, width=760, height=380):
    """steps: x labels; series: [(name, [value or None per step]), ...]."""
    left, right, top, bottom = 70, 20, 96, 92
    highest = max(v for _, vs in series for v in vs if v is not None)
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if highest / s <= 6)
    peak = step * (int(highest / step) + 1)
    plot_w, plot_h = width - left - right, height - top - bottom
    x_of = lambda i: left + plot_w * i / max(1, len(steps) - 1)
    y_of = lambda v: top + plot_h * (1 - v / peak)
    body = [text(16, 26, title, 16, weight="bold"), text(16, 46, subtitle, 11, color="#555")]
    for k in range(0, int(peak / step) + 1):
        v = step * k
        body.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (left, y_of(v), width - right, y_of(v)))
        body.append(text(left - 6, y_of(v) + 4, "%.0f" % v, 11, anchor="end", color="#555"))
    body.append(text(16, top - 10, unit, 11, color="#555"))
    for i, label in enumerate(steps):
        x = x_of(i)
        body.append('<text x="%.1f" y="%.1f" font-size="10" fill="#555" text-anchor="end" transform="rotate(-40 %.1f %.1f)" %s>%s</text>'
                    % (x, height - bottom + 14, x, height - bottom + 14, FONT, html.escape(label)))
    for si, (name, values) in enumerate(series):
        color = COLORS[si % len(COLORS)]
        points = [(x_of(i), y_of(v)) for i, v in enumerate(values) if v is not None]
        body.append('<polyline fill="none" stroke="%s" stroke-width="2.5" points="%s"/>' % (
            color, " ".join("%.1f,%.1f" % p for p in points)))
        for p in points:
            body.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (p[0], p[1], color))
        lx = left + si * 220
        body.append('<rect x="%d" y="%d" width="14" height="4" fill="%s"/>' % (lx, top - 34, color))
        body.append(text(lx + 20, top - 29, name, 12))
    return svg(width, height, body, title)


def worker_pool(doc):
    block = section(doc, "worker_pool")
    t = block and table_with(block, "step")
    if not t:
        return None
    header, rows = t[0], t[1:]
    steps, quarter, fit, go = [], [], [], []
    for r in rows:
        label = r[0].replace("pass / GC ", "pass/GC ").replace("Go: debug.FreeOSMemory()", "Go: FreeOSMemory")
        steps.append(label)
        quarter.append(number(r[2]) if len(r) > 2 and r[2] else None)
        fit.append(number(r[4]) if len(r) > 4 and r[4] else None)
        go.append(number(r[6]) if len(r) > 6 and r[6] else None)
    return line_chart("1000 workers, each once 860 KiB deep: RSS as the stacks are given back",
                      "ebb: after each stack_registry::shrink_all(). Go: after each runtime.GC(), then as its "
                      "scavenger works. Medians (docs/benchmarks.md)",
                      steps, [("ebb quarter_shrink", quarter), ("ebb shrink_to_fit", fit), ("Go 1.19 goroutines", go)],
                      "RSS, MiB")


def switch_create(doc):
    groups = []
    for name, label in (("switch", "Context switch (resume + yield round trip / 2)"),
                        ("create", "Create + run to completion + destroy")):
        block = section(doc, name)
        t = block and table_with(block, "contender")
        if not t:
            continue
        # The mmap-per-fiber and guarded-stack rows are 200x the others: they would flatten the chart.
        bars = [(r[0], number(r[1])) for r in t[1:] if number(r[1]) is not None and number(r[1]) < 1000]
        groups.append((label, bars))
    if not groups:
        return None
    return bar_chart("Switch and create cost by library, ns (lower is better)",
                     "medians of interleaved repetitions in one run each (docs/benchmarks.md); the rows with one "
                     "mmap per fiber (~8-9 us) are left out", groups, "ns")


def idle_memory(doc):
    block = section(doc, "idle")
    if not block:
        return None
    bars = []
    t = table_with(block, "fibers")
    if t:
        for r in t[1:]:
            if r[0] == "100000":
                bars.append(("ebb::fiber (in place, 2 KiB min)", number(r[3])))
    t = table_with(block, "variant")
    if t:
        for r in t[1:]:
            if r[1] == "100000":
                label = "ebb::compact_fiber (256-byte min)" if r[0].startswith("compact, 256") else r[0]
                bars.append((label, number(r[4])))
    if not bars:
        return None
    return bar_chart("Memory per idle fiber, 100,000 of them (RSS + page tables, bytes)",
                     "each parked in a loop of yields after its first resume; goroutines by bench/go/idle_goroutines.go "
                     "(docs/benchmarks.md)", [("Idle fibers", bars)], "B")


def main(argv):
    doc_path = argv[0] if argv else os.path.join(ROOT, "docs", "benchmarks.md")
    out_dir = argv[1] if len(argv) > 1 else os.path.join(ROOT, "docs", "img")
    with open(doc_path, encoding="utf-8") as f:
        doc = f.read()
    os.makedirs(out_dir, exist_ok=True)
    for name, make in (("worker_pool_rss.svg", worker_pool), ("switch_create.svg", switch_create),
                       ("idle_memory.svg", idle_memory)):
        picture = make(doc)
        path = os.path.join(out_dir, name)
        if picture is None:
            print("bench/plot.py: no figures for %s in %s; left as it was" % (name, doc_path))
            continue
        with open(path, "w", encoding="utf-8") as f:
            f.write(picture)
        print("bench/plot.py: wrote %s" % os.path.relpath(path, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
