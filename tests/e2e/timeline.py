#!/usr/bin/env python3
"""timeline.py - an SVG timeline of a rollout under load: what every
request became, per time bucket, over the pods' lifecycle events.

    python3 tests/e2e/timeline.py --load a.json [--load b.json ...] \\
        [--events ev.json] [--title T] --out x.svg

A load is ndtload's JSON (tests/servers/ndtload.c): start_unix_ms,
bucket_ms, buckets [[ok, non2xx, error], ...] and the totals; a "label"
key, when there, names its panel (the CLI uses the file's name). Events
are [{"t_unix_ms": N, "pod": "name", "kind": "prestop"|"sigterm"|...}].

Each load is a panel: stacked bars of ok (green), non-2xx (orange) and
errors (red) per bucket (buckets merged so that a bar stays >= 2 px wide),
and under them a strip of the failures alone on their own (log) scale,
every non-zero bar at least 3 px high and each run of failing bars labelled with
its count, so that one lost request next to thousands is still seen.
Under the panels one swimlane per pod holds its events as vertical marks
(faint lines carry them up through the panels). x is seconds since the
first load's start. Python 3 standard library only; importable:
render(loads, events, title) -> the SVG text.
"""
import argparse
import json
import math
import os
import sys
from xml.sax.saxutils import escape

WIDTH = 1000
LEFT = 120              # lane and axis labels
RIGHT = 24
PLOT_W = WIDTH - LEFT - RIGHT
BAR_H = 130             # a load's stacked bars
FAIL_H = 44             # its failure strip
PANEL_GAP = 34
LANE_H = 20
MIN_BAR_PX = 2.0

OUTCOMES = (("ok (2xx)", "#2ca02c"), ("non-2xx", "#ff7f0e"),
            ("error", "#d62728"))
KIND_COLORS = {"rollout": "#7f7f7f", "ready": "#17becf",
               "prestop": "#1f77b4", "drain": "#1f77b4",
               "sigterm": "#9467bd", "exit": "#000000",
               "kill": "#8c564b", "start": "#bcbd22"}
SPARE_COLORS = ("#e377c2", "#8c564b", "#bcbd22", "#aec7e8", "#98df8a")


def _num(v):
    """a coordinate: short, no float noise"""
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _nice_step(span, target=10):
    """a round tick step giving about target ticks over span"""
    if span <= 0:
        return 1
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _fmt_s(t, step):
    return f"{t:.0f}" if step >= 1 else f"{t:.1f}"


def _bar_w(w, least):
    """a bar's drawn width: a gap between wide bars only (thin ones
    would show the gaps as stripes)"""
    return max(w - 0.6 if w > 5 else w, least)


def _kind_color(kind, seen):
    if kind in KIND_COLORS:
        return KIND_COLORS[kind]
    if kind not in seen:
        seen[kind] = SPARE_COLORS[len(seen) % len(SPARE_COLORS)]
    return seen[kind]


def _bins(load, t0_ms, merge):
    """(start s, end s, ok, non2xx, err) per bar: merge buckets at a time"""
    b = load.get("buckets", [])
    bms = load.get("bucket_ms", 100)
    off = (load.get("start_unix_ms", t0_ms) - t0_ms) / 1000
    out = []
    for i in range(0, len(b), merge):
        grp = b[i:i + merge]
        out.append((off + i * bms / 1000, off + (i + len(grp)) * bms / 1000,
                    sum(g[0] for g in grp), sum(g[1] for g in grp),
                    sum(g[2] for g in grp)))
    return out


def render(loads, events=None, title="timeline"):
    """the SVG (a str) of loads (ndtload JSON dicts) and events"""
    events = sorted(events or [], key=lambda e: e.get("t_unix_ms", 0))
    if not loads:
        raise ValueError("render: no load")
    t0_ms = loads[0].get("start_unix_ms", 0)
    ends = [(ld.get("start_unix_ms", t0_ms) - t0_ms) / 1000 +
            len(ld.get("buckets", [])) * ld.get("bucket_ms", 100) / 1000
            for ld in loads]
    ev_t = [(e["t_unix_ms"] - t0_ms) / 1000 for e in events]
    starts = [(ld.get("start_unix_ms", t0_ms) - t0_ms) / 1000
              for ld in loads]
    t_lo = min([0.0] + starts + ev_t)
    t_hi = max(ends + ev_t + [t_lo + 1.0])
    t_hi += (t_hi - t_lo) * 0.01
    span = t_hi - t_lo

    def x(t):
        return LEFT + (t - t_lo) / span * PLOT_W

    pods = []
    for e in events:
        if e.get("pod", "") not in pods:
            pods.append(e.get("pod", ""))
    kinds = []
    for e in events:
        if e.get("kind", "?") not in kinds:
            kinds.append(e.get("kind", "?"))
    spare = {}

    top = 62
    # a long title gets smaller rather than cut (bold: ~0.62 em a char)
    tsize = max(11.0, min(17.0, (WIDTH - LEFT - 8) / (0.62 * max(len(title),
                                                               1))))
    panels_h = len(loads) * (BAR_H + FAIL_H + PANEL_GAP + 22)
    lanes_top = top + panels_h
    axis_y = lanes_top + len(pods) * LANE_H + 8
    height = axis_y + 90
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
         f'height="{_num(height)}" viewBox="0 0 {WIDTH} {_num(height)}" '
         'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" '
         'font-size="12">',
         f'<rect width="{WIDTH}" height="{_num(height)}" fill="white"/>',
         f'<text x="{LEFT}" y="24" font-size="{_num(tsize)}" '
         f'font-weight="bold">{escape(title)}</text>']
    sub = ", ".join(
        f"{ld.get('label', 'load %d' % (i + 1))}: {ld.get('requests', 0)} "
        f"requests, {ld.get('non2xx', 0)} non-2xx, "
        f"{sum((ld.get('errors') or {}).values())} errors"
        for i, ld in enumerate(loads))
    o.append(f'<text x="{LEFT}" y="42" fill="#444">{escape(sub)}</text>')

    # the time grid, through everything
    step = _nice_step(span)
    t = math.ceil(t_lo / step) * step
    while t <= t_hi:
        o.append(f'<line x1="{_num(x(t))}" y1="{top}" x2="{_num(x(t))}" '
                 f'y2="{_num(axis_y)}" stroke="#e6e6e6"/>')
        o.append(f'<line x1="{_num(x(t))}" y1="{_num(axis_y)}" '
                 f'x2="{_num(x(t))}" y2="{_num(axis_y + 5)}" stroke="#333"/>')
        o.append(f'<text x="{_num(x(t))}" y="{_num(axis_y + 18)}" '
                 f'text-anchor="middle">{_fmt_s(t, step)}</text>')
        t += step
    o.append(f'<line x1="{LEFT}" y1="{_num(axis_y)}" x2="{LEFT + PLOT_W}" '
             f'y2="{_num(axis_y)}" stroke="#333"/>')
    o.append(f'<text x="{LEFT + PLOT_W / 2}" y="{_num(axis_y + 36)}" '
             'text-anchor="middle">seconds since the load started</text>')

    y = top
    for i, ld in enumerate(loads):
        bms = ld.get("bucket_ms", 100)
        nb = max(1, len(ld.get("buckets", [])))
        px = PLOT_W * (nb * bms / 1000) / span / nb
        merge = max(1, math.ceil(MIN_BAR_PX / px)) if px > 0 else 1
        bins = _bins(ld, t0_ms, merge)
        label = ld.get("label", f"load {i + 1}")
        extra = ""
        if ld.get("buckets_truncated"):
            extra = (f" (timeline truncated: {ld.get('buckets_dropped')} "
                     "requests past its cap)")
        o.append(f'<text x="{LEFT}" y="{_num(y + 12)}" font-weight="bold">'
                 f'{escape(label)}<tspan dx="10" font-weight="normal" '
                 f'fill="#444">requests per {merge * bms} ms{escape(extra)}</tspan>'
                 '</text>')
        y += 20
        ymax = max([b[2] + b[3] + b[4] for b in bins] + [1])
        ystep = _nice_step(ymax, 4)
        ytop = math.ceil(ymax / ystep) * ystep
        base = y + BAR_H
        v = 0
        while v <= ytop:
            yy = base - v / ytop * BAR_H
            o.append(f'<line x1="{LEFT - 4}" y1="{_num(yy)}" '
                     f'x2="{LEFT + PLOT_W}" y2="{_num(yy)}" stroke="#eee"/>')
            o.append(f'<text x="{LEFT - 7}" y="{_num(yy + 4)}" '
                     f'text-anchor="end" fill="#444">{v:g}</text>')
            v += ystep
        for (s, e, ok, n2, er) in bins:
            # whole pixels: crisp bars without seams
            x0 = round(x(s))
            w = _bar_w(round(x(e)) - x0, 1.0)
            yy = base
            for n, (_, col) in zip((ok, n2, er), OUTCOMES):
                if n <= 0:
                    continue
                h = n / ytop * BAR_H
                if col != OUTCOMES[0][1]:
                    h = max(h, MIN_BAR_PX)
                yy -= h
                crisp = (' shape-rendering="crispEdges"'
                         if col == OUTCOMES[0][1] else "")
                o.append(f'<rect x="{_num(x0)}" y="{_num(yy)}" '
                         f'width="{_num(w)}" height="{_num(h)}" '
                         f'fill="{col}"{crisp}/>')
        o.append(f'<line x1="{LEFT}" y1="{_num(base)}" x2="{LEFT + PLOT_W}" '
                 f'y2="{_num(base)}" stroke="#333"/>')

        # the failure strip: non-2xx and errors on their own scale
        fy = base + 6
        fbase = fy + FAIL_H
        fmax = max([b[3] + b[4] for b in bins] + [0])
        o.append(f'<rect x="{LEFT}" y="{_num(fy)}" width="{PLOT_W}" '
                 f'height="{FAIL_H}" fill="#fbf3f3" stroke="#e8caca"/>')
        o.append(f'<text x="{LEFT - 7}" y="{_num(fy + 13)}" '
                 'text-anchor="end" fill="#a33">failures</text>')
        o.append(f'<text x="{LEFT - 7}" y="{_num(fy + 27)}" '
                 f'text-anchor="end" fill="#a33">max {fmax}</text>')
        o.append(f'<text x="{LEFT - 7}" y="{_num(fy + 40)}" '
                 'text-anchor="end" fill="#a33" font-size="10">log</text>')
        if fmax == 0:
            o.append(f'<text x="{LEFT + 8}" y="{_num(fy + 27)}" '
                     'fill="#2c7a2c">no failed request</text>')
        runs = []
        for (s, e, ok, n2, er) in bins:
            if n2 + er == 0:
                continue
            x0, w = x(s), _bar_w(x(e) - x(s), 1.0)
            yy = fbase
            for n, col in ((n2, OUTCOMES[1][1]), (er, OUTCOMES[2][1])):
                if n <= 0:
                    continue
                # log scale: 1 next to 1000 is still a third of 1000
                h = 3.0 + (FAIL_H - 17) * math.log1p(n) / math.log1p(fmax)
                yy -= h
                o.append(f'<rect x="{_num(x0)}" y="{_num(yy)}" '
                         f'width="{_num(w)}" height="{_num(h)}" '
                         f'fill="{col}"/>')
            if runs and s - runs[-1][1] < span * 0.004:
                runs[-1][1] = e
                runs[-1][2] += n2 + er
            else:
                runs.append([s, e, n2 + er])
        last_x = -1e9
        for (s, e, n) in runs:
            cx = (x(s) + x(e)) / 2
            if cx - last_x < 34:
                continue
            last_x = cx
            o.append(f'<text x="{_num(cx)}" y="{_num(fy + 11)}" '
                     f'text-anchor="middle" font-size="11" fill="#a33" '
                     f'font-weight="bold">{n}</text>')
        y = fbase + PANEL_GAP

    # the pods' swimlanes
    for j, pod in enumerate(pods):
        ly = lanes_top + j * LANE_H
        if j % 2 == 0:
            o.append(f'<rect x="{LEFT}" y="{_num(ly)}" width="{PLOT_W}" '
                     f'height="{LANE_H}" fill="#f6f6f6"/>')
        o.append(f'<text x="{LEFT - 7}" y="{_num(ly + 14)}" '
                 f'text-anchor="end">{escape(str(pod))}</text>')
        ts = [(e["t_unix_ms"] - t0_ms) / 1000 for e in events
              if e.get("pod", "") == pod]
        o.append(f'<line x1="{_num(x(min(ts)))}" y1="{_num(ly + 10)}" '
                 f'x2="{_num(x(max(ts)))}" y2="{_num(ly + 10)}" '
                 'stroke="#bbb" stroke-width="3"/>')
    last = {}
    for e in events:
        te = (e["t_unix_ms"] - t0_ms) / 1000
        col = _kind_color(e.get("kind", "?"), spare)
        pod = e.get("pod", "")
        ly = lanes_top + pods.index(pod) * LANE_H
        # a mark within 4 px of the pod's previous one takes the lower
        # half of the lane, so that both stay visible
        mh = LANE_H - 4
        if pod in last and x(te) - last[pod] < 4:
            ly, mh = ly + LANE_H / 2, LANE_H / 2 - 2
        last[pod] = x(te)
        o.append(f'<line x1="{_num(x(te))}" y1="{top}" x2="{_num(x(te))}" '
                 f'y2="{_num(lanes_top)}" stroke="{col}" stroke-opacity='
                 '"0.22" stroke-dasharray="3,3"/>')
        o.append(f'<rect x="{_num(x(te) - 1.5)}" y="{_num(ly + 2)}" '
                 f'width="3" height="{_num(mh)}" fill="{col}">'
                 f'<title>{escape(str(e.get("pod", "")))} '
                 f'{escape(str(e.get("kind", "?")))} at {te:.3f} s'
                 '</title></rect>')

    # the legend
    ly = axis_y + 58
    lx = LEFT
    items = list(OUTCOMES) + [(k, _kind_color(k, spare)) for k in kinds]
    for n, (name, col) in enumerate(items):
        if n == len(OUTCOMES):
            o.append(f'<text x="{_num(lx)}" y="{_num(ly + 10)}" '
                     'fill="#444">events:</text>')
            lx += 52
        o.append(f'<rect x="{_num(lx)}" y="{_num(ly)}" width="12" '
                 f'height="12" fill="{col}"/>')
        o.append(f'<text x="{_num(lx + 16)}" y="{_num(ly + 10)}">'
                 f'{escape(name)}</text>')
        lx += 28 + 7 * len(name)
    o.append("</svg>")
    return "\n".join(o) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--load", action="append", required=True,
                    help="an ndtload JSON file (repeatable)")
    ap.add_argument("--events", help="events JSON: [{t_unix_ms, pod, kind}]")
    ap.add_argument("--title", default="timeline")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    loads = []
    for path in a.load:
        with open(path) as f:
            ld = json.load(f)
        ld.setdefault("label", os.path.splitext(os.path.basename(path))[0])
        loads.append(ld)
    events = []
    if a.events:
        with open(a.events) as f:
            events = json.load(f)
    svg = render(loads, events, a.title)
    with open(a.out + ".tmp", "w") as f:
        f.write(svg)
    os.replace(a.out + ".tmp", a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
