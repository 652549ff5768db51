// Pipeline: freshness, volume, schema changes, SLA, per-gateway ingest rates and webhook
// deliveries (failed ones can be sent again).

import { api } from "../api.js";
import { fill, h } from "../dom.js";
import { num, span, when } from "../format.js";
import { badge, deviceLink, empty, section } from "./common.js";

function table(caption, headers, rows) {
  if (!rows.length) return empty(`${caption}: none.`);
  return h("div", { class: "scroll" }, h("table", {}, h("caption", { text: caption }),
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col", text: x })))),
    h("tbody", {}, rows)));
}

const pct = (x) => (x === null || x === undefined ? "—" : `${(100 * x).toFixed(2)} %`);

function sla(s) {
  return h("dl", { class: "figures" },
    h("dt", { text: "On time" }), h("dd", { text: `${pct(s.on_time_share)} queryable within ${span(s.queryable_within_s)} (target ${pct(s.target)})` }),
    h("dt", { text: "Availability" }), h("dd", { text: `${pct(s.availability)} · ${s.requests_ok} ok / ${s.requests_failed} failed requests` }),
    h("dt", { text: "Window" }), h("dd", { text: `${span(s.window_s)} · ${s.readings} readings` }),
    h("dt", { text: "Verdict" }), h("dd", {}, badge(s.ok ? "ok" : "degraded")));
}

function deliveries(ep, list, redeliver) {
  const rows = list.map((d) => h("tr", { "data-delivery": d.id, "data-state": d.state },
    h("td", {}, badge(d.state)), h("td", { text: d.event_type }),
    h("td", { text: d.payload?.data ? `${d.payload.data.rule_name} · ${d.payload.data.device}` : "—" }),
    h("td", { class: "num", text: String(d.attempts) }),
    h("td", { text: d.last_status ?? (d.last_error || "—") }),
    h("td", { text: when(d.created_ms) }),
    h("td", {}, d.state === "failed" && ep.enabled
      ? h("button", { type: "button", class: "redeliver", text: "Redeliver", onclick: () => redeliver(ep, d) }) : null)));
  return h("div", { class: "webhook", "data-webhook": ep.id },
    h("h3", {}, `${ep.url} `, ep.enabled ? badge("ok") : h("span", { class: "tag", text: `disabled: ${ep.disabled_reason}` })),
    table(`Deliveries to ${ep.url} (newest 20)`, ["State", "Event", "Alert", "Attempts", "Last answer", "Created (UTC)", ""], rows));
}

export default {
  create(main, _route, ctx) {
    const parts = Object.fromEntries(["status", "gateways", "freshness", "volume", "schema", "sla", "webhooks"]
      .map((k) => [k, h("div", { id: `pipeline-${k}` })]));
    const page = {
      title: "Pipeline",
      async refresh() {
        const [health, gateways, hooks] = await Promise.all([
          api("/v1/pipeline/health"), api("/v1/pipeline/gateways"),
          api("/v1/webhooks", { optional: true })]);
        const hookDeliveries = await Promise.all((hooks || []).map((ep) =>
          api(`/v1/webhooks/${encodeURIComponent(ep.id)}/deliveries`, { params: { limit: 20 } })));
        fill(parts.status, h("p", { class: "summary" }, badge(health.status), ` ${health.problems.length} problems`),
          health.problems.length ? h("ul", {}, health.problems.map((p) => h("li", { text: `${p.check}: ${p.detail}` }))) : null);
        fill(parts.gateways, table("Ingest per gateway, last complete bucket", ["Gateway", "Devices", "Readings/s", "Bucket (UTC)", "Last ingest (UTC)"],
          gateways.map((g) => h("tr", { "data-gateway": g.gateway_id }, h("td", { text: g.gateway_id }),
            h("td", { class: "num", text: String(g.devices) }), h("td", { class: "num", text: num(g.readings_per_s) }),
            h("td", { text: g.bucket_ms ? `${when(g.bucket_ms)} +${span(g.bucket_s)}` : "—" }), h("td", { text: when(g.last_ingest) })))));
        const fr = health.freshness;
        fill(parts.freshness, table(`Freshness (stale after ${span(fr.stale_after_s)})`, ["Device", "State", "Age", "Ingest lag", "Newest reading (UTC)"],
          fr.devices.map((d) => h("tr", { class: d.stale ? "stale" : null, "data-device": d.device }, h("td", {}, deviceLink(d.device)),
            h("td", {}, badge(d.stale ? "stale" : "fresh")), h("td", { text: span(d.age_s) }),
            h("td", { text: span(d.ingest_lag_s) }), h("td", { text: when(d.last_ts_ms) })))));
        const vol = health.volume;
        fill(parts.volume, table(`Volume per device (buckets of ${span(vol.bucket_s)})`, ["Device", "Readings", "Baseline", "Verdict"],
          vol.devices.map((v) => h("tr", {}, h("td", {}, deviceLink(v.device)), h("td", { class: "num", text: String(v.readings) }),
            h("td", { class: "num", text: num(v.baseline) }), h("td", {}, badge(v.verdict))))));
        const sc = health.schema;
        fill(parts.schema,
          table("Schema changes", ["When (UTC)", "Device", "Sensor", "Change", "Detail"], sc.changes.map((c) => h("tr", {},
            h("td", { text: when(c.at_ms) }), h("td", {}, deviceLink(c.device)), h("td", { text: c.sensor }),
            h("td", { text: c.change }), h("td", { text: JSON.stringify(c.detail) })))),
          table("Vanished sensors", ["Device", "Sensor", "Last reading (UTC)"], sc.vanished.map((v) => h("tr", {},
            h("td", {}, deviceLink(v.device)), h("td", { text: v.sensor }), h("td", { text: when(v.last_ts_ms) })))));
        fill(parts.sla, sla(health.sla));
        fill(parts.webhooks, hooks === null ? empty("Webhook deliveries need a token with the admin scope.") : hooks.length ? hooks.map((ep, i) => deliveries(ep, hookDeliveries[i], redeliver)) : empty("No webhook endpoint is registered."));
      },
    };
    const redeliver = (ep, d) => ctx.guarded(async () => {
      await api(`/v1/webhooks/${encodeURIComponent(ep.id)}/deliveries/${encodeURIComponent(d.id)}/redeliver`, { method: "POST" });
      await page.refresh();
    });
    fill(main, h("h1", { text: "Pipeline" }), parts.status,
      h("div", { class: "grid" }, section("Ingest rates", parts.gateways), section("SLA", parts.sla)),
      section("Freshness", parts.freshness), section("Volume", parts.volume),
      section("Schema", parts.schema), section("Webhook deliveries", parts.webhooks));
    return page;
  },
};
