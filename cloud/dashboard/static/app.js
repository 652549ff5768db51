// The dashboard shell: hash routes, the sign-in page, live refresh by polling.
// No data request is made before a token is in sessionStorage.

import { AuthError, clearToken, setToken, token } from "./api.js";
import { fill, h } from "./dom.js";
import { when } from "./format.js";
import alerts from "./pages/alerts.js";
import device from "./pages/device.js";
import fleet from "./pages/fleet.js";
import pipeline from "./pages/pipeline.js";

const PAGES = { fleet, device, alerts, pipeline };
const REFRESH_MS = Number(new URLSearchParams(location.search).get("refresh_s") || 10) * 1000;
const main = document.getElementById("main");
const status = document.getElementById("live");
let current = null;   // {page, key, timer}
let signInMessage = "";

function route() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/");
  return {
    name: PAGES[name] ? name : "fleet",
    arg: rest.length ? decodeURIComponent(rest.join("/")) : "",
    params: new URLSearchParams(query),
  };
}

function stop() {
  if (current) {
    clearTimeout(current.timer);
    current.page.stop?.();
  }
  current = null;
}

function signIn(message) {
  stop();
  document.body.classList.add("signed-out");
  document.title = "Sign in · iotgw";
  const input = h("input", {
    id: "token", name: "token", type: "password", autocomplete: "off", required: true,
    "aria-describedby": "token-help",
  });
  const form = h("form", { class: "card signin", id: "signin" },
    h("h1", { text: "Sign in" }),
    message ? h("p", { class: "message error", role: "alert", text: message }) : null,
    h("label", { for: "token", text: "API token" }), input,
    h("p", { id: "token-help", class: "help",
      text: "The dashboard reads the same API as every client, with your token. " +
        "It is kept in this browser tab only (sessionStorage) and sent as a Bearer token." }),
    h("button", { type: "submit", text: "Sign in" }));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    setToken(value);
    signInMessage = "";
    show();
  });
  fill(main, form);
  input.focus();
}

function authFailed(err) {
  clearToken();
  const why = err.status === 403
    ? "The API refused this token for that action (403): it lacks the scope, or was revoked."
    : "The API did not accept the token (401): it is unknown or missing.";
  signInMessage = `${why} ${err.message ? `Server said: ${err.message}.` : ""} Sign in again.`;
  signIn(signInMessage);
}

/** Run a page action; auth failures go to the sign-in page, others show in the status line. */
export async function guarded(action) {
  try {
    await action();
    return true;
  } catch (err) {
    if (err instanceof AuthError) authFailed(err);
    else note(`Error: ${err.message}`, true);
    return false;
  }
}

function note(text, error = false) {
  status.textContent = text;
  status.classList.toggle("error", error);
}

async function tick() {
  const me = current;
  if (!me) return;
  const ok = await guarded(() => me.page.refresh());
  if (current !== me) return;
  if (ok) note(`Live · updated ${when(Date.now()).slice(11)} UTC`);
  me.timer = setTimeout(tick, REFRESH_MS);
}

function show() {
  if (!token()) {
    signIn(signInMessage);
    return;
  }
  document.body.classList.remove("signed-out");
  const r = route();
  const key = location.hash;
  if (current && current.key === key) return;
  stop();
  for (const a of document.querySelectorAll("nav a[data-page]")) {
    a.toggleAttribute("aria-current", a.dataset.page === r.name ||
      (r.name === "device" && a.dataset.page === "fleet"));
  }
  const page = PAGES[r.name].create(main, r, { guarded });
  document.title = `${page.title} · iotgw`;
  current = { page, key, timer: 0 };
  main.focus({ preventScroll: true });
  tick();
}

document.getElementById("signout").addEventListener("click", () => {
  clearToken();
  signInMessage = "Signed out.";
  signIn(signInMessage);
});
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && current) {
    clearTimeout(current.timer);
    tick();
  }
});
document.querySelector(".skip").addEventListener("click", (ev) => {
  ev.preventDefault();
  main.focus();
});
window.addEventListener("hashchange", show);
show();
