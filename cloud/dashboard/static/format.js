// Formatting of times, durations and numbers for the pages (UTC throughout, like the API).

const pad = (n) => String(n).padStart(2, "0");

/** "2026-12-01 19:20:13" (UTC) from UTC milliseconds. */
export function when(ms) {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** "42 s", "5 min", "3.2 h", "4.0 d". */
export function span(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const a = Math.abs(seconds);
  if (a < 120) return `${Math.round(seconds)} s`;
  if (a < 7200) return `${Math.round(seconds / 60)} min`;
  if (a < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

/** A number with about 4 significant digits. */
export function num(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  if (x !== 0 && (Math.abs(x) >= 1e6 || Math.abs(x) < 1e-3)) return x.toExponential(3);
  return String(Number(x.toPrecision(4)));
}

/** Durations such as "1h", "24h", "7d" to milliseconds. */
export function duration(text) {
  const m = /^(\d+)(s|m|h|d)$/.exec(text || "");
  if (!m) return null;
  return Number(m[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[m[2]];
}

/** Shell-style pattern (as rule scopes and silences use) to a RegExp. */
export function glob(pattern) {
  let re = "";
  for (const ch of pattern || "*") {
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else re += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}
