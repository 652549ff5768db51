// Device: each sensor's trend over a chosen range (server-side buckets within the point
// budget), anomaly marks, threshold lines of the rules that apply, the forecast projection.

import { api, ApiError } from "../api.js";
import { chart } from "../chart.js";
import { fill, h } from "../dom.js";
import { duration, glob, num, span, when } from "../format.js";
import { empty } from "./common.js";

const RANGES = ["1h", "6h", "24h", "7d", "30d"];

function applies(rule, dev, sensor) {
  const sc = rule.scope || {};
  return rule.enabled !== false && glob(sc.device).test(dev.device) &&
    glob(sc.sensor).test(sensor) && glob(sc.site).test(dev.site || "");
}

function thresholds(rules) {
  const out = [];
  for (const r of rules.filter((x) => x.kind === "threshold")) {
    if (r.op === "outside") {
      if (r.low !== null) out.push({ value: r.low, label: `${r.name}: below ${num(r.low)}` });
      if (r.high !== null) out.push({ value: r.high, label: `${r.name}: above ${num(r.high)}` });
    } else if (r.limit !== null) {
      out.push({ value: r.limit, label: `${r.name}: ${r.op} ${num(r.limit)}` });
    }
  }
  return out;
}

async function forecastOf(dev, sensor, rule) {
  const tr = await api("/v1/trends", {
    params: { device: dev.device, sensor, window: `${Math.round(rule.lookback_s)}s`, threshold: rule.limit },
  });
  const within = tr.crossing_ts !== null && tr.crossing_ts - tr.end <= rule.horizon_s * 1000;
  return { ...tr, limit: rule.limit, rule: rule.name, within, crossing_ts: within ? tr.crossing_ts : null };
}

function forecastText(fc) {
  if (!fc) return null;
  if (fc.level === null) return `${fc.rule}: not enough data for a trend`;
  const slope = `${num(fc.slope_per_hour)}/h`;
  if (fc.already_beyond) return `${fc.rule}: already beyond ${num(fc.limit)} (trend ${slope})`;
  if (fc.crossing_ts) {
    return `${fc.rule}: projected to reach ${num(fc.limit)} at ${when(fc.crossing_ts)} UTC ` +
      `(in ${span((fc.crossing_ts - fc.end) / 1000)}, trend ${slope})`;
  }
  return `${fc.rule}: not heading to ${num(fc.limit)} within its horizon (trend ${slope})`;
}

function rangeParams(params) {
  const range = RANGES.includes(params.get("range")) ? params.get("range") : "24h";
  const at = Number(params.get("at"));
  if (at > 0) {
    const half = duration(range) / 2;
    return { range, at, start: String(Math.round(at - half)), end: String(Math.round(at + half)) };
  }
  return { range, at: null, start: `-${range}`, end: "now" };
}

function sensorCard(dev, s, data, width) {
  const unit = s.unit ? ` (${s.unit})` : "";
  const last = data.series.mean?.length ? data.series.mean[data.series.mean.length - 1] : null;
  const label = `${s.sensor}${unit} of ${dev.device}, ${when(data.series.start)} to ${when(data.series.end)} UTC: ` +
    `${data.series.t.length} points, ${data.anomalies.length} anomalies`;
  return h("section", { class: "card sensor", "data-sensor": s.sensor },
    h("h2", { text: `${s.sensor}${unit}` }),
    h("p", { class: "meta" },
      `latest bucket mean ${num(last)} · bucket ${span(data.series.every / 1000)} · ${data.series.t.length} points · `,
      `${data.anomalies.length} anomalies`),
    data.forecast ? h("p", { class: "forecast-text", text: forecastText(data.forecast) }) : null,
    chart({ series: data.series, anomalies: data.anomalies, thresholds: data.thresholds,
      forecast: data.forecast?.within ? data.forecast : null, label, width }),
    h("p", { class: "legend", "aria-hidden": "true" },
      h("span", { class: "k-line", text: "━ mean" }), h("span", { class: "k-band", text: "▮ min–max" }),
      h("span", { class: "k-anomaly", text: "▲ anomaly" }), h("span", { class: "k-threshold", text: "╌ threshold" }),
      h("span", { class: "k-forecast", text: "┈ forecast ◆ crossing" })),
    data.anomalies.length ? h("details", {}, h("summary", { text: `Anomalies (${data.anomalies.length})` }),
      h("ul", { class: "anomaly-list" }, data.anomalies.slice(-50).map((a) =>
        h("li", { text: `${when(a.ts)} UTC · value ${num(a.value)} · score ${num(a.score)} · ${a.detector}` })))) : null);
}

export default {
  create(main, route) {
    const id = route.arg;
    const r = rangeParams(route.params);
    const head = h("div", { class: "device-head" });
    const charts = h("div", { id: "charts", class: "charts" });
    const nav = h("div", { class: "controls", role: "group", "aria-label": "Range" },
      RANGES.map((x) => {
        const q = new URLSearchParams({ range: x });
        if (r.at) q.set("at", String(r.at));
        return h("a", { class: "button", href: `#/device/${encodeURIComponent(id)}?${q}`, "aria-pressed": String(x === r.range), text: x });
      }),
      r.at ? h("a", { class: "button", href: `#/device/${encodeURIComponent(id)}?range=${r.range}`, text: "back to now" }) : null);
    fill(main, h("p", {}, h("a", { href: "#/fleet", text: "← Fleet" })), h("h1", { text: id }), head, nav, charts);
    let cache = null;
    const draw = () => {
      if (!cache) return;
      const width = charts.clientWidth - 28;
      fill(charts, cache.sensors.map((s) => sensorCard(cache.dev, s, cache.data[s.sensor], width)));
    };
    let resizeTimer = 0;
    const onResize = () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(draw, 150); };
    window.addEventListener("resize", onResize);
    return {
      title: `Device ${id}`,
      stop() { window.removeEventListener("resize", onResize); },
      async refresh() {
        // The device, the rules and the anomalies at once; then every sensor's series at once.
        const [devOrMissing, rules, anomalies] = await Promise.all([
          api(`/v1/devices/${encodeURIComponent(id)}`).catch((err) => {
            if (err instanceof ApiError && err.status === 404) return null;
            throw err;
          }),
          api("/v1/rules"),
          api("/v1/anomalies", { params: { device: id, start: r.start, end: r.end } }),
        ]);
        if (!devOrMissing) return fill(charts, empty(`No data was ever stored for ${id}.`));
        const dev = devOrMissing;
        const sensors = [...dev.sensors].sort((a, b) => a.sensor.localeCompare(b.sensor));
        const entries = await Promise.all(sensors.map(async (s) => {
          const mine = rules.filter((x) => applies(x, dev, s.sensor));
          const fcRule = r.at ? null : mine.find((x) => x.kind === "forecast");
          const [series, forecast] = await Promise.all([
            api("/v1/series", { params: { device: id, sensor: s.sensor, start: r.start, end: r.end, agg: "mean,min,max" } }),
            fcRule ? forecastOf(dev, s.sensor, fcRule) : null,
          ]);
          return [s.sensor, { series, forecast, thresholds: thresholds(mine),
            anomalies: anomalies.filter((a) => a.sensor === s.sensor) }];
        }));
        fill(head, h("p", { class: "meta" },
          `site ${dev.site || "—"} · gateway ${dev.gateway_id || "—"} · last seen ${span(dev.seconds_since)} ago (${when(dev.last_seen)} UTC)`,
          r.at ? ` · centred on ${when(r.at)} UTC` : ""));
        cache = { dev, sensors, data: Object.fromEntries(entries) };
        draw();
      },
    };
  },
};
