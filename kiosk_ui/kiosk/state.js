// Kiosk state shared by the modules, plus the alert banner and screen switching.
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
  if (["paid", "attract", "paying"].includes(name)) document.getElementById("alert").hidden = true;
  document.getElementById("call-staff").hidden = !["attract", "cart", "qr", "face"].includes(name);
  state.lastActivity = Date.now();
}

let alertTimer = null;

/** A message for a typed error code, in the page's language; the server's sentence otherwise. */
export function explain(code, fallback) {
  const key = `kiosk.err.${code}`;
  const text = t(key);
  return text === key ? fallback || t("kiosk.err.generic") : text;
}

export function showAlert(text, kind = "error", ms = 6000) {
  const el = $("#alert");
  el.textContent = text;
  el.className = `kiosk-alert${kind === "info" ? " info" : ""}`;
  el.hidden = false;
  if (alertTimer) clearTimeout(alertTimer);
  alertTimer = setTimeout(() => {
    el.hidden = true;
  }, ms);
}

export function announce(text) {
  $("#announce").textContent = text;
}

export function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
