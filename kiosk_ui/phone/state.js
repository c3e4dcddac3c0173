// What the phone page knows (all of it from the box: a reload loses nothing), its screens, and
// its messages: a toast for what just happened, a screen-reader announcement, typed errors.
import { $, screen } from "/ui/common/dom.js";
import { t } from "/ui/common/i18n.js";

export const S = {
  cart: null, // the CartView of this phone's open cart
  lastOrder: null, // the last paid order whose exit pass can still open the gate (CheckoutOut)
  payOptions: [], // "alipay", "wechatpay", or "sandbox"
  screen: "loading",
  paying: null, // the payment in flight (also in localStorage)
  passShownAt: 0, // when the pass screen last opened (Date.now())
};

export function go(name) {
  S.screen = name;
  screen(name);
  if (name !== "shop") $("#toast").hidden = true; // news about the basket belongs with the basket
}

/** A typed refusal in the page's language (kiosk.err.<code>); the box's sentence otherwise. */
export function explain(code, fallback) {
  const key = `kiosk.err.${code}`;
  const text = t(key);
  return text === key ? fallback || t("kiosk.err.generic") : text;
}

let toastTimer = null;

/** A short message at the top of the page: kind "ok" | "info" | "error". Text only. */
export function toast(text, kind = "info", ms = 5000) {
  const el = $("#toast");
  el.textContent = text;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, ms);
}

export function announce(text) {
  $("#announce").textContent = text;
}

/** Random hex (for frame-id prefixes, scan ids and payment keys); works without a secure context. */
export function randomId(bytes = 12) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const cartUrl = (sessionId) => `/api/go/carts/${encodeURIComponent(sessionId)}`;
