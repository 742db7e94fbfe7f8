"""Dependency-free SVG figures for scripts/repro (Python standard library only).

python3 svg.py scatter IN.csv OUT.svg TITLE   columns: label,x,y      (x: gap, y: attack accuracy)
python3 svg.py heatmap IN.csv OUT.svg TITLE   columns: row,col,value  (rows: targets, cols: shadows)
"""
import csv
import sys
from xml.sax.saxutils import escape

FONT = 'font-family="DejaVu Sans, sans-serif"'


def svg(w, h, body):
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">\n'
            '<rect width="100%%" height="100%%" fill="white"/>\n%s</svg>\n' % (w, h, w, h, "\n".join(body)))


def text(x, y, s, size=12, anchor="middle", extra=""):
    return '<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" %s %s>%s</text>' % (
        x, y, size, anchor, FONT, extra, escape(str(s)))


def ticks(lo, hi, n=5):
    step = (hi - lo) / n
    return [lo + i * step for i in range(n + 1)]


def grid(x0, x1, y0, y1, px, py, box):
    """Grid lines and tick labels of a plot area box = (left, top, right, bottom) in pixels;
    px / py map data to pixels."""
    left, top, right, bottom = box
    out = []
    for t in ticks(x0, x1):
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (px(t), top, px(t), bottom))
        out.append(text(px(t), bottom + 18, "%.3f" % t, 11))
    for t in ticks(y0, y1):
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (left, py(t), right, py(t)))
        out.append(text(left - 6, py(t) + 4, "%.3f" % t, 11, "end"))
    return out


def scatter(rows, title):
    W, H, L, R, T, B = 720, 520, 70, 170, 40, 60
    xs = [float(r["x"]) for r in rows]
    ys = [float(r["y"]) for r in rows]
    x0, x1 = min([0.0] + xs), max([0.05] + xs)
    x1 += (x1 - x0) * 0.05
    y0, y1 = min([0.5] + ys), max([0.55] + ys)
    y0, y1 = y0 - 0.01, y1 + (y1 - y0) * 0.05
    px = lambda x: L + (x - x0) / (x1 - x0) * (W - L - R)
    py = lambda y: H - B - (y - y0) / (y1 - y0) * (H - T - B)
    body = [text((L + W - R) / 2, 24, title, 15)]
    body += grid(x0, x1, y0, y1, px, py, (L, T, W - R, H - B))
    # the correctness baseline: accuracy (1 + gap) / 2
    body.append('<clipPath id="plot"><rect x="%d" y="%d" width="%d" height="%d"/></clipPath>' % (L, T, W - L - R, H - T - B))
    body.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999" stroke-dasharray="6 4" clip-path="url(#plot)"/>' % (
        px(x0), py((1 + x0) / 2), px(x1), py((1 + x1) / 2)))
    body.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>' % (L, T, W - L - R, H - T - B))
    body.append(text((L + W - R) / 2, H - 18, "train-test accuracy gap", 13))
    body.append(text(18, (T + H - B) / 2, "attack accuracy", 13, extra='transform="rotate(-90 18 %.1f)"' % ((T + H - B) / 2)))
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
    for i, r in enumerate(rows):
        c = colors[i % len(colors)]
        body.append('<circle cx="%.1f" cy="%.1f" r="5" fill="%s"/>' % (px(float(r["x"])), py(float(r["y"])), c))
        body.append('<circle cx="%d" cy="%d" r="5" fill="%s"/>' % (W - R + 16, T + 10 + 18 * i, c))
        body.append(text(W - R + 26, T + 14 + 18 * i, r["label"], 11, "start"))
    body.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999" stroke-dasharray="6 4"/>' % (
        W - R + 8, T + 10 + 18 * len(rows), W - R + 24, T + 10 + 18 * len(rows)))
    body.append(text(W - R + 26, T + 14 + 18 * len(rows), "(1 + gap) / 2", 11, "start"))
    return svg(W, H, body)


def heatmap(rows, title):
    rnames, cnames = [], []
    for r in rows:
        if r["row"] not in rnames:
            rnames.append(r["row"])
        if r["col"] not in cnames:
            cnames.append(r["col"])
    val = {(r["row"], r["col"]): float(r["value"]) for r in rows}
    cell, L, T = 90, 130, 70
    W, H = max(L + cell * len(cnames) + 20, 8 * len(title) + 40), T + cell * len(rnames) + 50
    vs = list(val.values())
    lo, hi = min(vs + [0.5]), max(vs + [0.5001])
    body = [text(W / 2, 22, title, 15), text(L + cell * len(cnames) / 2, 46, "shadow", 12)]
    body.append(text(16, T + cell * len(rnames) / 2, "target", 12,
                     extra='transform="rotate(-90 16 %.1f)"' % (T + cell * len(rnames) / 2)))
    for j, c in enumerate(cnames):
        body.append(text(L + cell * j + cell / 2, T - 6, c, 11))
    for i, rn in enumerate(rnames):
        body.append(text(L - 6, T + cell * i + cell / 2 + 4, rn, 11, "end"))
        for j, cn in enumerate(cnames):
            v = val.get((rn, cn))
            if v is None:
                fill, label = "#eee", "n/a"
            else:
                t = 0.1 + 0.9 * (v - lo) / (hi - lo)  # pale blue (lowest) to dark blue (highest)
                fill = "rgb(%d,%d,%d)" % (255 - 225 * t, 255 - 180 * t, 255 - 100 * t)
                label = "%.3f" % v
            x, y = L + cell * j, T + cell * i
            body.append('<rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="white"/>' % (x, y, cell, cell, fill))
            color = "white" if v is not None and (v - lo) / (hi - lo) > 0.6 else "black"
            body.append(text(x + cell / 2, y + cell / 2 + 5, label, 13, extra='fill="%s"' % color))
    body.append(text(W / 2, H - 14, "value: shadow_sample attack accuracy (colour from %.3f to %.3f)" % (lo, hi), 11))
    return svg(W, H, body)


if __name__ == "__main__":
    kind, src, dst, title = sys.argv[1:5]
    rows = list(csv.DictReader(open(src)))
    out = scatter(rows, title) if kind == "scatter" else heatmap(rows, title)
    with open(dst + ".tmp", "w") as f:
        f.write(out)
    import os
    os.replace(dst + ".tmp", dst)
