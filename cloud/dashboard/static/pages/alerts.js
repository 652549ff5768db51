// Alerts: open (pending, firing) and resolved with their history; acknowledge and silence from
// the page through the public API; links to the device page at the alert's time.

import { api } from "../api.js";
import { fill, h } from "../dom.js";
import { num, when } from "../format.js";
import { badge, deviceLink, empty, section } from "./common.js";

const VIEWS = { open: "Open", firing: "Firing", pending: "Pending", resolved: "Resolved", all: "All" };
const HOURS = [1, 4, 24, 72];

function history(a) {
  const parts = [`started ${when(a.started_ms)}`];
  if (a.fired_ms) parts.push(`fired ${when(a.fired_ms)}`);
  if (a.acked_ms) parts.push(`acked ${when(a.acked_ms)}${a.acked_by ? ` by ${a.acked_by}` : ""}`);
  if (a.resolved_ms) parts.push(`resolved ${when(a.resolved_ms)}`);
  return `${parts.join(" → ")} UTC`;
}

function silenceDialog(ctx, afterCreate) {
  const hours = h("select", { id: "silence-hours" }, HOURS.map((n) => h("option", { value: n, text: `${n} h` })));
  const scope = h("select", { id: "silence-scope" },
    h("option", { value: "series", text: "this rule on this device and sensor" }),
    h("option", { value: "rule", text: "this rule everywhere" }));
  const comment = h("input", { id: "silence-comment", type: "text", maxlength: 1000 });
  const what = h("p", { class: "meta" });
  let alert = null;
  const dialog = h("dialog", { id: "silence-dialog", "aria-labelledby": "silence-title" });
  const form = h("form", { method: "dialog" },
    h("h2", { id: "silence-title", text: "Silence notifications" }), what,
    h("label", { for: "silence-hours", text: "For" }), hours,
    h("label", { for: "silence-scope", text: "Matching" }), scope,
    h("label", { for: "silence-comment", text: "Comment" }), comment,
    h("div", { class: "controls" },
      h("button", { type: "submit", value: "ok", id: "silence-ok", text: "Silence" }),
      h("button", { type: "submit", value: "cancel", class: "quiet", formnovalidate: true, text: "Cancel" })));
  dialog.append(form);
  dialog.addEventListener("close", () => {
    if (dialog.returnValue !== "ok" || !alert) return;
    const matcher = { rule: alert.rule_id };
    if (scope.value === "series") Object.assign(matcher, { device: alert.device, sensor: alert.sensor });
    const body = { matcher, ends_ms: Date.now() + Number(hours.value) * 3.6e6, comment: comment.value, created_by: "dashboard" };
    ctx.guarded(async () => {
      await api("/v1/silences", { method: "POST", body });
      await afterCreate();
    });
  });
  return {
    dialog,
    open(a) {
      alert = a;
      what.textContent = `${a.rule_name} · ${a.device}/${a.sensor}`;
      comment.value = "";
      dialog.showModal();
    },
  };
}

function row(a, actions) {
  const at = a.fired_ms || a.started_ms;
  return h("tr", { "data-alert": a.id, "data-state": a.state },
    h("td", {}, badge(a.state)), h("td", {}, badge(a.severity)),
    h("td", {}, h("strong", { text: a.rule_name }), h("div", { class: "meta", text: a.message })),
    h("td", {}, deviceLink(a.device, { at, range: "6h" }), a.sensor ? ` / ${a.sensor}` : ""),
    h("td", { class: "num", text: num(a.value) }),
    h("td", { class: "meta", text: history(a) }),
    h("td", {}, a.silenced ? h("span", { class: "tag", text: "silenced" }) : null,
      a.acked_ms ? h("span", { class: "tag", text: "acknowledged" }) : null,
      a.state !== "resolved" && !a.acked_ms
        ? h("button", { type: "button", class: "ack", text: "Ack", onclick: () => actions.ack(a) }) : null,
      h("button", { type: "button", class: "silence quiet", text: "Silence…", onclick: () => actions.silence(a) })));
}

function silencesList(silences, actions) {
  const now = Date.now();
  const active = silences.filter((x) => x.ends_ms > now);
  if (!active.length) return empty("No active silence.");
  return h("ul", { class: "silences" }, active.map((x) => {
    const m = Object.entries(x.matcher || {}).filter(([, v]) => v !== "*").map(([k, v]) => `${k}=${v}`);
    return h("li", { "data-silence": x.id }, `${m.join(", ") || "everything"} until ${when(x.ends_ms)} UTC`,
      x.comment ? ` · ${x.comment}` : "", " ",
      h("button", { type: "button", class: "quiet", text: "End", onclick: () => actions.end(x) }));
  }));
}

export default {
  create(main, route, ctx) {
    const view = VIEWS[route.params.get("state")] ? route.params.get("state") : "open";
    const device = route.params.get("device") || "";
    const list = h("div", { id: "alert-list" });
    const silenceBox = h("div", { id: "silence-list" });
    const page = {
      title: "Alerts",
      async refresh() {
        const params = { limit: 500, device: device || undefined };
        const [alerts, silences] = await Promise.all([
          view === "open"
            ? Promise.all(["firing", "pending"].map((s) => api("/v1/alerts", { params: { ...params, state: s } }))).then((x) => x.flat())
            : api("/v1/alerts", { params: { ...params, state: view === "all" ? undefined : view } }),
          api("/v1/silences"),
        ]);
        fill(list, alerts.length ? h("div", { class: "scroll" }, h("table", {},
          h("caption", { text: `${alerts.length} ${VIEWS[view].toLowerCase()} alerts${device ? ` of ${device}` : ""}` }),
          h("thead", {}, h("tr", {}, ["State", "Severity", "Rule", "Device / sensor", "Value", "History", ""].map((c) => h("th", { scope: "col", text: c })))),
          h("tbody", {}, alerts.map((a) => row(a, actions))))) : empty(`No ${VIEWS[view].toLowerCase()} alerts.`));
        fill(silenceBox, silencesList(silences, actions));
      },
    };
    const dlg = silenceDialog(ctx, () => page.refresh());
    const actions = {
      ack: (a) => ctx.guarded(async () => {
        await api(`/v1/alerts/${a.id}/ack`, { method: "POST", body: { by: "dashboard" } });
        await page.refresh();
      }),
      silence: (a) => dlg.open(a),
      end: (x) => ctx.guarded(async () => {
        await api(`/v1/silences/${encodeURIComponent(x.id)}`, { method: "DELETE" });
        await page.refresh();
      }),
    };
    const q = (state) => new URLSearchParams({ state, ...(device ? { device } : {}) });
    fill(main, h("h1", { text: "Alerts" }),
      h("div", { class: "controls", role: "group", "aria-label": "Which alerts" },
        Object.entries(VIEWS).map(([k, label]) => h("a", { class: "button", href: `#/alerts?${q(k)}`, "aria-pressed": String(k === view), text: label })),
        device ? h("a", { class: "button quiet", href: `#/alerts?state=${view}`, text: `× device ${device}` }) : null),
      list, section("Silences", silenceBox), dlg.dialog);
    return page;
  },
};
