// One sensor's trend as SVG: the mean line (one vertex per bucket the API returned), the
// min..max band, anomaly marks at their timestamps, threshold lines and a forecast projection.
// Shapes and dash patterns carry meaning as well as colour (colour-blind-safe palette).

import { s } from "./dom.js";
import { num, when } from "./format.js";

const M = { left: 58, right: 24, top: 14, bottom: 30 };
// Time-axis steps (ms): 1, 5, 15, 30 min; 1, 3, 6, 12 h; 1, 2, 7 d.
const STEPS = [6e4, 3e5, 9e5, 1.8e6, 3.6e6, 1.08e7, 2.16e7, 4.32e7, 8.64e7, 1.728e8, 6.048e8];

function niceTicks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((k) => k >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  return out;
}

function timeLabel(ms, step) {
  const t = when(ms);
  if (step >= 8.64e7) return t.slice(5, 10);                  // MM-DD
  return t.slice(11, 16) === "00:00" ? t.slice(5, 10) : t.slice(11, 16);  // midnight: its date
}

function yDomain(values) {
  const finite = values.filter((v) => Number.isFinite(v));
  if (!finite.length) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (lo === hi) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.06;
  return [lo - pad, hi + pad];
}

function linePath(t, v, x, y, gapMs) {
  let d = "";
  for (let i = 0; i < t.length; i++) {
    const cmd = i === 0 || t[i] - t[i - 1] > gapMs ? "M" : "L";
    d += `${cmd}${x(t[i]).toFixed(1)},${y(v[i]).toFixed(1)}`;
  }
  return d;
}

function bandPath(t, lo, hi, x, y) {
  if (!t.length) return "";
  const top = t.map((ti, i) => `${x(ti).toFixed(1)},${y(hi[i]).toFixed(1)}`);
  const bottom = t.map((ti, i) => `${x(ti).toFixed(1)},${y(lo[i]).toFixed(1)}`).reverse();
  return `M${top.join("L")}L${bottom.join("L")}Z`;
}

function axes(g, x, y, x0, x1, lo, hi, width, height) {
  for (const v of niceTicks(lo, hi, 4)) {
    g.append(s("line", { class: "grid", x1: M.left, x2: width - M.right, y1: y(v), y2: y(v) }),
      s("text", { class: "tick", x: M.left - 6, y: y(v) + 4, "text-anchor": "end", text: num(v) }));
  }
  const most = Math.max(2, Math.floor((width - M.left - M.right) / 90));
  const step = STEPS.find((k) => (x1 - x0) / k <= most) || STEPS[STEPS.length - 1];
  for (let t = Math.ceil(x0 / step) * step; t <= x1; t += step) {
    g.append(s("text", { class: "tick", x: x(t), y: height - 8, "text-anchor": "middle",
      text: timeLabel(t, step) }));
  }
}

function projection(fc, x1) {
  const at = (t) => fc.level + (fc.slope_per_hour * (t - fc.end)) / 3.6e6;
  return { at, end: Math.min(x1, fc.crossing_ts ?? x1) };
}

/**
 * The chart as an <svg>. `data`: {series, mean, min, max, anomalies, thresholds, forecast,
 * label, width}. Attributes on the marks (data-ts, data-points) let tests read what was drawn.
 */
export function chart(data) {
  const { series, anomalies = [], thresholds = [], forecast = null } = data;
  const width = Math.max(280, Math.floor(data.width || 640));
  const height = width < 500 ? 200 : 240;
  const t = series.t || [];
  const mean = series.mean || [];
  let x0 = series.start;
  let x1 = series.end;
  if (forecast && forecast.crossing_ts && forecast.crossing_ts > x1) {
    x1 = Math.min(forecast.crossing_ts, x1 + (x1 - x0));  // at most double the range
  }
  const shown = anomalies.filter((a) => a.ts >= x0 && a.ts <= x1);
  const ys = [...mean, ...(series.min || []), ...(series.max || []),
    ...thresholds.map((th) => th.value), ...shown.map((a) => a.value)];
  const proj = forecast && forecast.level !== null ? projection(forecast, x1) : null;
  if (proj) ys.push(forecast.level, proj.at(proj.end));
  if (forecast && forecast.limit !== undefined) ys.push(forecast.limit);
  const [lo, hi] = yDomain(ys);
  const pw = width - M.left - M.right;
  const ph = height - M.top - M.bottom;
  const x = (ti) => M.left + ((ti - x0) / (x1 - x0 || 1)) * pw;
  const y = (v) => M.top + (1 - (v - lo) / (hi - lo)) * ph;

  const svg = s("svg", {
    class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": data.label, "data-start": x0, "data-end": x1, "data-plot-left": M.left,
    "data-plot-width": pw,
  });
  svg.append(s("title", { text: data.label }));
  const g = s("g");
  axes(g, x, y, x0, x1, lo, hi, width, height);
  if (series.min && series.max) g.append(s("path", { class: "band", d: bandPath(t, series.min, series.max, x, y) }));
  for (const th of thresholds) {
    g.append(s("line", { class: "threshold", "data-value": th.value, x1: M.left, x2: width - M.right, y1: y(th.value), y2: y(th.value) }),
      s("text", { class: "threshold-label", x: width - M.right - 4, y: y(th.value) - 4, "text-anchor": "end", text: th.label }));
  }
  g.append(s("path", {
    class: "line", d: linePath(t, mean, x, y, 2.5 * (series.every || 1)), "data-points": t.length,
  }));
  if (proj) {
    g.append(s("path", {
      class: "forecast", d: `M${x(forecast.end).toFixed(1)},${y(forecast.level).toFixed(1)}L${x(proj.end).toFixed(1)},${y(proj.at(proj.end)).toFixed(1)}`,
    }));
    if (forecast.crossing_ts && forecast.crossing_ts <= x1) {
      const cx = x(forecast.crossing_ts);
      const cy = y(forecast.limit);
      g.append(s("path", { class: "crossing", "data-ts": forecast.crossing_ts, d: `M${cx},${cy - 6}L${cx + 6},${cy}L${cx},${cy + 6}L${cx - 6},${cy}Z` },
        s("title", { text: `projected to reach ${num(forecast.limit)} at ${when(forecast.crossing_ts)} UTC` })));
    }
  }
  for (const a of shown) {
    const ax = x(a.ts);
    const ay = y(a.value);
    g.append(s("path", {
      class: "anomaly", "data-ts": a.ts, "data-x": ax.toFixed(1),
      d: `M${ax.toFixed(1)},${(ay - 6).toFixed(1)}l6,10.4h-12z`,
    }, s("title", { text: `anomaly at ${when(a.ts)} UTC: ${num(a.value)} (score ${num(a.score)}, ${a.detector})` })));
  }
  svg.append(g);
  return svg;
}
