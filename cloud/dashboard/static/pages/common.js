// Pieces the pages share: state badges (shape + word, never colour alone), sortable tables.

import { h } from "../dom.js";

const BADGES = {
  fresh: ["●", "fresh"], stale: ["▲", "stale"], firing: ["▲", "firing"],
  pending: ["◆", "pending"], resolved: ["✓", "resolved"], ok: ["●", "ok"],
  degraded: ["▲", "degraded"], drop: ["▼", "drop"], surge: ["▲", "surge"],
  learning: ["○", "learning"], delivered: ["✓", "delivered"], failed: ["✕", "failed"],
  critical: ["▲", "critical"], warning: ["◆", "warning"], info: ["●", "info"],
};

/** A badge: a shape and a word, coloured by its class. */
export function badge(state) {
  const [shape, word] = BADGES[state] || ["○", String(state)];
  return h("span", { class: `badge b-${state}`, "data-state": state },
    h("span", { "aria-hidden": "true", text: shape }), ` ${word}`);
}

export function deviceLink(device, params) {
  const q = params ? `?${new URLSearchParams(params)}` : "";
  return h("a", { href: `#/device/${encodeURIComponent(device)}${q}`, text: device });
}

/**
 * A table whose column headers sort it (buttons, so the keyboard reaches them).
 * columns: [{key, label, value(row) -> sortable, cell(row) -> node|string, numeric}]
 */
export function sortableTable(columns, { caption, sort, onSort, rowProps }) {
  const head = h("tr", {}, columns.map((c) => {
    const active = sort.key === c.key;
    const dir = active ? (sort.desc ? "descending" : "ascending") : "none";
    return h("th", { scope: "col", "aria-sort": dir, class: c.numeric ? "num" : null },
      h("button", {
        type: "button", class: "sort", text: `${c.label}${active ? (sort.desc ? " ↓" : " ↑") : ""}`,
        onclick: () => onSort({ key: c.key, desc: active ? !sort.desc : !!c.numeric }),
      }));
  }));
  return (rows) => {
    const col = columns.find((c) => c.key === sort.key) || columns[0];
    const sorted = [...rows].sort((a, b) => {
      const va = col.value(a);
      const vb = col.value(b);
      const cmp = va < vb ? -1 : va > vb ? 1 : 0;
      return sort.desc ? -cmp : cmp;
    });
    return h("div", { class: "scroll" }, h("table", {},
      caption ? h("caption", { text: caption }) : null,
      h("thead", {}, head),
      h("tbody", {}, sorted.map((r) => h("tr", rowProps ? rowProps(r) : {},
        columns.map((c) => h("td", { class: c.numeric ? "num" : null }, c.cell(r))))))));
  };
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", { text: title }), ...children);
}

export function empty(text) {
  return h("p", { class: "empty", text });
}
