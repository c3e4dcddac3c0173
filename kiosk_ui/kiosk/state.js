// Kiosk state shared by the modules, plus the alert banner, screen switching and the texts that
// follow the language: every text the page shows is kept as how to say it (a catalog key and its
// params), never as a finished sentence, so a language switch redraws all of it.
import { $, screen } from "/ui/common/dom.js";
import { t } from "/ui/common/i18n.js";

export const state = {
  me: null,
  cart: null,
  screen: "loading",
  faceCamera: false,
  scannedPaymentCode: false, // the kiosk camera read a wallet code (held on the box for a minute)
  lastActivity: Date.now(),
};

export function go(name) {
  state.screen = name;
  screen(name);
  if (["paid", "attract", "paying"].includes(name)) hideAlert();
  document.getElementById("call-staff").hidden = !["attract", "cart", "qr", "face"].includes(name);
  state.lastActivity = Date.now();
}

// --- texts that follow the language -------------------------------------------------------
const spoken = new Map(); // element -> () => text, in the current language

/** Show `render()` in `el` now and again after every language switch; `null` empties it. */
export function say(el, render) {
  if (!render) {
    spoken.delete(el);
    el.textContent = "";
    return;
  }
  spoken.set(el, render);
  el.textContent = render();
}

/** After a language switch: every text shown with say() in the new language. */
export function redrawSaid() {
  for (const [el, render] of spoken) {
    if (!el.isConnected) spoken.delete(el);
    else el.textContent = render();
  }
}

/** A message for a typed error code, in the page's language; the server's sentence otherwise. */
export function explain(code, fallback, params = {}) {
  const key = `kiosk.err.${code}`;
  const text = t(key, params || {});
  return text === key ? fallback || t("kiosk.err.generic") : text;
}

// --- the alert banner ---------------------------------------------------------------------
let alertTimer = null;
let raised = null; // {kind, since}: the banner's kind and the cart version it was raised at

/**
 * Show the banner: `what` is a function giving the text in the current language (redrawn on a
 * language switch) or an error `{code, message, details}`. An error banner is stale once the
 * cart changes for the better after it (successAt); `since` is the cart version it belongs to
 * (Infinity: its own cart is still on its way, see pinAlert).
 */
export function showAlert(what, kind = "error", { ms = 6000, since } = {}) {
  const el = $("#alert");
  const render = typeof what === "function" ? what : () => explain(what.code, what.message, what.details);
  say(el, render);
  el.className = `kiosk-alert${kind === "info" ? " info" : ""}`;
  el.dataset.kind = kind;
  el.hidden = false;
  raised = { kind, since: since ?? (state.cart ? state.cart.version : -1) };
  clearTimeout(alertTimer);
  alertTimer = setTimeout(hideAlert, ms);
}

export function hideAlert() {
  clearTimeout(alertTimer);
  alertTimer = null;
  raised = null;
  const el = $("#alert");
  el.hidden = true;
  say(el, null);
}

/** The cart reached `version` by a success (an item added, a change accepted): an error banner
 * raised before it is stale and goes at once, not after its 6 s. */
export function successAt(version) {
  if (raised && raised.kind === "error" && version > raised.since) hideAlert();
}

/** The banner whose cart was on its way (an alert the stream sends just before its cart)
 * belongs to that cart's version: only a later success clears it. */
export function pinAlert(version) {
  if (raised && raised.since === Infinity) raised.since = version;
}

export function announce(text) {
  $("#announce").textContent = text;
}

export function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
