// Fleet: every device with site, gateway, last seen, freshness, open alerts, anomalies 24 h.

import { api } from "../api.js";
import { fill, h } from "../dom.js";
import { span, when } from "../format.js";
import { badge, deviceLink, empty, sortableTable } from "./common.js";

const COLUMNS = [
  { key: "device", label: "Device", value: (d) => d.device, cell: (d) => deviceLink(d.device) },
  { key: "site", label: "Site", value: (d) => d.site || "", cell: (d) => d.site || "—" },
  { key: "gateway", label: "Gateway", value: (d) => d.gateway_id || "", cell: (d) => d.gateway_id || "—" },
  { key: "seen", label: "Last seen", value: (d) => -d.last_seen, cell: (d) =>
    h("time", { datetime: new Date(d.last_seen).toISOString(), title: `${when(d.last_seen)} UTC`, text: `${span(d.seconds_since)} ago` }) },
  { key: "state", label: "State", value: (d) => (d.stale ? 0 : 1), cell: (d) => badge(d.stale ? "stale" : "fresh") },
  { key: "alerts", label: "Open alerts", numeric: true, value: (d) => d.open_alerts, cell: (d) =>
    d.open_alerts ? h("a", { href: `#/alerts?device=${encodeURIComponent(d.device)}`, text: String(d.open_alerts) }) : "0" },
  { key: "anomalies", label: "Anomalies 24 h", numeric: true, value: (d) => d.anomalies_24h, cell: (d) => String(d.anomalies_24h) },
];

export default {
  create(main) {
    const state = { sort: { key: "state", desc: false }, filter: "", staleOnly: false, data: null };
    const summary = h("p", { class: "summary", "aria-live": "polite" });
    const body = h("div", { id: "fleet-table" });
    const filter = h("input", { id: "fleet-filter", type: "search", placeholder: "device, site or gateway" });
    const staleOnly = h("input", { id: "fleet-stale", type: "checkbox" });
    const draw = () => {
      const d = state.data;
      if (!d) return;
      const q = state.filter.toLowerCase();
      const rows = d.devices.filter((x) => (!state.staleOnly || x.stale) &&
        [x.device, x.site, x.gateway_id].some((v) => (v || "").toLowerCase().includes(q)));
      const stale = d.devices.filter((x) => x.stale).length;
      const alerting = d.devices.filter((x) => x.open_alerts).length;
      summary.textContent = `${d.devices.length} devices · ${stale} stale (silent > ${span(d.stale_after_s)}) · ` +
        `${alerting} with open alerts${d.anomalies_capped ? " · anomaly counts capped" : ""}` +
        (rows.length !== d.devices.length ? ` · showing ${rows.length}` : "");
      if (!d.devices.length) return fill(body, empty("No device has sent data yet."));
      const table = sortableTable(COLUMNS, {
        caption: "Devices", sort: state.sort, onSort: (s) => { state.sort = s; draw(); },
        rowProps: (x) => ({ "data-device": x.device, class: x.stale ? "stale" : null }),
      });
      fill(body, table(rows));
    };
    filter.addEventListener("input", () => { state.filter = filter.value; draw(); });
    staleOnly.addEventListener("change", () => { state.staleOnly = staleOnly.checked; draw(); });
    fill(main, h("h1", { text: "Fleet" }),
      h("div", { class: "controls" },
        h("label", { for: "fleet-filter", text: "Filter" }), filter,
        h("label", { class: "check" }, staleOnly, " stale only")),
      summary, body);
    return {
      title: "Fleet",
      async refresh() {
        state.data = await api("/v1/fleet");
        draw();
      },
    };
  },
};
