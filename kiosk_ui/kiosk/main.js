// Self-checkout kiosk: device token once, then attract -> cart (live over SSE) -> pay -> pass.
import { api, ApiError, setBearer } from "/ui/common/api.js";
import { $, fill } from "/ui/common/dom.js";
import { loadStore, storeInfo } from "/ui/common/format.js";
import { bindLangSelect, initI18n, onLangChange, t } from "/ui/common/i18n.js";
import { beep } from "/ui/common/sound.js";
import { LiveStream, refreshBanner } from "/ui/common/sse.js";
import { render, setCart, wireCart } from "./cart.js";
import { clearPaid, redrawPaid } from "./paid.js";
import { payScannedCode, pendingPayment, resume, stopFace, wirePay } from "./pay.js";
import { explain, go, redrawSaid, say, showAlert, state } from "./state.js";

const TOKEN_KEY = "re_kiosk_token";
const IDLE_WARN_S = 20; // the "are you still there?" countdown
const PAID_IDLE_S = 60; // the pass screen resets by itself; the order is already committed
let stream = null;
let idleShownAt = 0;

/** Start over; `resume` adopts the kiosk's open session (items the camera read before the page loaded). */
async function newSession(resume = false) {
  if (stream) stream.close();
  stream = null;
  stopFace(); // a reset from the face screen must not leave the camera preview polling
  clearPaid();
  state.cart = null;
  state.scannedPaymentCode = false;
  const cart = await api("/api/kiosk/sessions", { method: "POST", body: { resume } });
  setCart(cart);
  go(cart.lines.length ? "cart" : "attract");
  stream = new LiveStream(`/api/kiosk/sessions/${encodeURIComponent(cart.session_id)}/events`, {
    onEvent: (type, data) => {
      if (type === "cart") setCart(data);
      else if (type === "alert") onAlert(data);
    },
    onAuthError: (e) => {
      if (e.status === 401) return toToken(() => t("kiosk.token.revoked"));
      if (!["paid", "paying"].includes(state.screen)) newSession().catch(() => null); // expired session
    },
  });
}

/** "Call staff": one help request per cart, shown on the staff handhelds (edge/checkout/tasks.py). */
async function callStaff() {
  if (!state.cart) return;
  try {
    const path = `/api/kiosk/sessions/${encodeURIComponent(state.cart.session_id)}/help`;
    await api(path, { method: "POST", body: { request_id: `help-${Date.now().toString(36)}` } });
    showAlert(() => t("kiosk.staff_called"), "info");
  } catch (err) {
    showAlert(err);
  }
}

function onAlert(a) {
  if (a.code === "payment_waiting") {
    // the wallet asks the shopper for a password; the payment waits for them, so say what to do
    if (state.screen === "paying") say($("#paying-body"), () => t("kiosk.paying_wallet"));
    return;
  }
  if (a.code === "payment_code_scanned") {
    // The box holds the code the camera read for a minute; paying by QR uses it.
    state.scannedPaymentCode = true;
    if (state.screen === "qr") payScannedCode();
    else showAlert(a, "info");
    return;
  }
  beep("error");
  // An added item's alert (an ID check) comes just before that item's cart on the stream: the
  // banner belongs to that cart, and only a later success clears it. A refused scan's banner
  // goes with the next success.
  showAlert(a, "error", a.code === "age_check_required" ? { since: Infinity } : {});
}

function toToken(message = "") {
  if (stream) stream.close();
  stream = null;
  localStorage.removeItem(TOKEN_KEY);
  setBearer(null);
  go("token");
  const box = $("#token-error");
  say(box, message ? () => (typeof message === "function" ? message() : message) : null);
  box.hidden = !message;
}

async function start(token) {
  setBearer(token);
  const me = await api("/api/auth/me");
  if (me.kind !== "device" || me.role !== "kiosk") throw new ApiError(403, "wrong_device_role", t("kiosk.token.wrong"));
  state.me = me;
  localStorage.setItem(TOKEN_KEY, token);
  state.faceCamera = (await api("/api/ui/kiosk/face-camera")).available;
  $("#pay-sandbox").hidden = storeInfo().checkout?.mode !== "sandbox";
  const pending = pendingPayment();
  if (pending) {
    const res = await resume(pending); // a reload mid-payment finishes that payment first
    if (res === true) return;
  }
  await newSession(true);
}

/** Inactivity: warn, then start over (the cart, both pay screens); never while paying, and the
 * paid screen just resets: its order is committed already. */
function idleTick() {
  const idleFor = (Date.now() - state.lastActivity) / 1000;
  const limit = storeInfo().checkout?.session_idle_s || 300;
  const dialog = $("#idle");
  if (state.screen === "paid" && idleFor > PAID_IDLE_S) {
    newSession().catch(() => null);
    return;
  }
  if (!["cart", "qr", "face"].includes(state.screen)) {
    dialog.hidden = true;
    if (state.screen === "attract" && state.cart && state.cart.expires_at) {
      const left = (new Date(state.cart.expires_at).getTime() - Date.now()) / 1000;
      if (left < 30) newSession().catch(() => null); // keep an open session for the camera's next scan
    }
    return;
  }
  const warnAt = Math.max(30, limit - IDLE_WARN_S - 10);
  if (idleFor < warnAt) {
    dialog.hidden = true;
    idleShownAt = 0;
    return;
  }
  if (!idleShownAt) {
    idleShownAt = Date.now();
    dialog.hidden = false;
    $("#idle-stay").focus();
  }
  const left = IDLE_WARN_S - (Date.now() - idleShownAt) / 1000;
  const n = Math.max(0, Math.ceil(left));
  say($("#idle-count"), () => t("kiosk.idle.body", { n }));
  if (left <= 0) {
    dialog.hidden = true;
    idleShownAt = 0;
    newSession().catch(() => null);
  }
}

async function boot() {
  await initI18n();
  const store = await loadStore();
  fill($("#store-name"), store.name);
  bindLangSelect($("#lang"));
  // a language switch redraws everything on screen: the [data-i18n] texts (i18n.js), the
  // connection banner, the cart, the alert banner and every other text shown with say()
  // (error boxes, prompts, the amount being paid, the countdowns), and the pass and receipt
  onLangChange(() => {
    document.title = `${store.name ? `${store.name} · ` : ""}${t("kiosk.title")}`;
    refreshBanner();
    render();
    redrawSaid();
    redrawPaid();
  });
  document.title = `${store.name ? `${store.name} · ` : ""}${t("kiosk.title")}`;
  wireCart();
  wirePay();
  for (const evt of ["pointerdown", "keydown"]) document.addEventListener(evt, () => (state.lastActivity = Date.now()), true);
  $("#idle-stay").addEventListener("click", () => {
    state.lastActivity = Date.now();
    idleShownAt = 0;
    $("#idle").hidden = true;
  });
  $("#start-typing").addEventListener("click", () => {
    go("cart");
    $("#code").focus();
  });
  $("#call-staff").addEventListener("click", callStaff);
  $("#done").addEventListener("click", () => newSession().catch(() => null));
  $("#cancel-cart").addEventListener("click", () => newSession().catch(() => null));
  $("#token-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await start($("#token").value.trim());
      $("#token").value = "";
    } catch (err) {
      const wrong = err instanceof ApiError && (err.status === 401 || err.code === "wrong_device_role");
      toToken(wrong ? () => t("kiosk.token.wrong") : () => explain(err.code, err.message));
    }
  });
  window.addEventListener("kiosk:session-ended", () => newSession().catch(() => null));
  setInterval(idleTick, 1000);
  const saved = localStorage.getItem(TOKEN_KEY);
  if (!saved) return toToken();
  try {
    await start(saved);
  } catch (err) {
    toToken(err instanceof ApiError && err.status === 401 ? () => t("kiosk.token.revoked") : "");
  }
}

boot();
