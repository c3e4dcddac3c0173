// Scan & Go on the shopper's own phone: /go/{entry code} (the box's HttpOnly cookie is the only
// credential). The camera and typed codes fill the basket through the outbox (net.js), the box
// prices it, the phone pays in the wallet app and shows the exit pass. Everything shown comes
// from the box, so a reload loses nothing; the page reconnects by itself (state polled with
// back-off while the box cannot be reached, scans queued meanwhile).
import { api, ApiError } from "/ui/common/api.js";
import { $, fill } from "/ui/common/dom.js";
import { loadStore } from "/ui/common/format.js";
import { bindLangSelect, initI18n, onLangChange, t } from "/ui/common/i18n.js";
import { beep } from "/ui/common/sound.js";
import { onFail, onPay, render, setCart, wireCart } from "./cart.js";
import * as net from "./net.js";
import { configurePay, loadPending, pay, renderPass, rerenderPaying, run, showPass, showPayError } from "./pay.js";
import { wireReceipts } from "./receipts.js";
import * as scanner from "./scanner.js";
import { announce, cartUrl, explain, go, randomId, S, toast } from "./state.js";

const IDLE_POLL_MS = 5000; // the state while idle: a staff ID check, a pass used at the gate
const BACKOFF_MAX_MS = 10000;
const HINT_MS = 1500;
const DISMISSED = "re_go_dismissed"; // sessionStorage: the order whose pass the shopper put away
let pollTimer = null;
let backoff = 1000;
let hintTimer = null;
let lastAdded = 0; // performance.now() of the last item added: its code stays in view a moment

// --- the box's state ----------------------------------------------------------------------
async function refresh() {
  const asked = Date.now();
  const st = await api("/api/go/state");
  if (!st) throw new ApiError(0, "offline", "the answer was cut off");
  net.setOnline(true);
  S.payOptions = Array.isArray(st.pay_options) ? st.pay_options : [];
  fill($("#store-name"), st.store || "");
  document.title = st.store ? `${st.store} · ${t("go.title")}` : t("go.title");
  setCart(st.cart);
  // an answer to a question asked before the pass was shown says nothing about that pass
  if (asked >= S.passShownAt) {
    S.lastOrder = st.last_order || null;
    if (S.screen === "paid" && !S.lastOrder) {
      go("shop"); // used at the gate, or expired
      toast(t("go.pass_done"), "info");
    }
  }
  $("#show-pass").hidden = !S.lastOrder;
  return st;
}

/** The first screen once the box answered: a payment in flight, the pass, or the basket. */
function landing() {
  const pending = loadPending();
  if (pending) {
    run(pending);
    return;
  }
  const o = S.lastOrder;
  if (o && sessionStorage.getItem(DISMISSED) !== o.order_id && !(S.cart && S.cart.lines.length)) {
    showPass(o);
  } else {
    go("shop");
  }
}

function schedule(ms) {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(poll, ms);
}

function nextBackoff() {
  const wait = backoff;
  backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
  return wait;
}

async function poll() {
  if (S.screen === "gone") return;
  if (S.screen === "paying") return schedule(IDLE_POLL_MS); // the payment is watched on its own
  if (navigator.onLine === false) return schedule(nextBackoff()); // no network at all: do not even ask
  const first = S.screen === "loading";
  try {
    await refresh();
    backoff = 1000;
    if (first) landing();
    schedule(IDLE_POLL_MS);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return gone();
    if (!(err instanceof ApiError) || err.code === "offline" || err.status >= 500) {
      if (net.isOnline()) return net.setOnline(false); // the connection hook schedules the next try
      return schedule(nextBackoff());
    }
    schedule(IDLE_POLL_MS);
  }
}

/** The cookie is gone (401): nothing works until the shopper scans the entrance code again. */
function gone() {
  closeCamera();
  net.stop();
  clearTimeout(pollTimer);
  S.paying = null;
  go("gone");
  $("#conn").hidden = true;
}

/** A change the shopper asked for did not happen: say why. */
function failed(err) {
  if (!(err instanceof ApiError)) {
    toast(t("kiosk.err.generic"), "error");
    return;
  }
  if (err.code === "offline") {
    net.setOnline(false); // the state is asked again with back-off until the box answers
    toast(t("go.offline_action"), "error");
    return;
  }
  if (err.status === 401) return gone();
  if (err.code === "session_expired") refresh().catch(() => null);
  beep("error");
  toast(explain(err.code, err.message), "error");
}

// --- scans: the box's answers ----------------------------------------------------------------
function added(name) {
  lastAdded = performance.now();
  beep("ok");
  if (navigator.vibrate) navigator.vibrate(80);
  const text = t("go.added", { name });
  toast(text, "ok", 2500);
  announce(text);
}

function refusedRead(text, code, message) {
  beep("error");
  toast(t("go.refused", { text, reason: explain(code, message) }), "error", 6000); // the read text stays text
}

function alerts(list) {
  for (const a of list || []) toast(explain(a.code, a.message), "info", 8000);
}

function onFrame(out) {
  if (out.cart) setCart(out.cart);
  const reads = Array.isArray(out.reads) ? out.reads : [];
  for (const r of reads) {
    if (!r.ok) refusedRead(r.name || r.text, r.code, r.message); // the product's name when the box knows it
    else if (r.result === "added") added((r.item && r.item.name) || r.text);
    else if (r.result === "member") toast(t("go.member_ok"), "ok");
    else if (r.result === "coupon") toast(t("go.coupon_ok"), "ok");
    // "duplicate": a frame sent again whose code was already counted: nothing new
  }
  alerts(out.alerts);
  // a code in view that is not read yet (the box confirms it over two frames): hold still; not
  // the code just added, which the box counts once however long it stays in view
  if (out.seen && !reads.length && performance.now() - lastAdded > 2500) hint(t("go.hold_still"), true);
}

function onTyped(item, out) {
  if (out.cart) setCart(out.cart);
  const a = out.added || {};
  if (a.source !== "duplicate") added(a.name || item.code);
  alerts(out.alerts);
}

function settle(item, outcome) {
  // sent before, answer lost: what that answer said (an item added) comes with the state
  if (item.attempts > 1) schedule(0);
  if (outcome.ok) {
    if (item.kind === "frame") onFrame(outcome.data);
    else onTyped(item, outcome.data);
    return;
  }
  const err = outcome.err;
  if (err.status === 401) return gone();
  if (item.kind === "frame") {
    if (err.status === 429 || err.status === 503) return net.slowDown(err); // the next frame is read
    if (["cart_paying", "session_expired", "session_closed"].includes(err.code)) return;
    toast(explain(err.code, err.message), "error"); // a picture the box could not use
    return;
  }
  refusedRead((err.details && err.details.name) || item.code, err.code, err.message); // a known pack by name
}

function send(item) {
  const base = cartUrl(S.cart.session_id);
  if (item.kind === "frame") {
    return net.postBytes(`${base}/frames`, item.blob, {
      "Content-Type": "image/jpeg",
      "X-Frame-Id": item.id,
      "X-Frame-Time": item.t.toFixed(1),
    });
  }
  return api(`${base}/items`, { method: "POST", body: { code: item.code, qty: item.qty, scan_id: item.scan_id } }).then((out) => {
    if (!out) throw new ApiError(0, "offline", "the answer was cut off"); // sent again, same scan id
    return out;
  });
}

function showQueue() {
  const n = net.queuedCount();
  const el = $("#queue");
  el.hidden = n === 0;
  el.textContent = n === 1 ? t("go.queued_one") : t("go.queued", { n });
}

function banner(online) {
  const el = $("#conn");
  el.hidden = online || S.screen === "gone";
  el.textContent = online ? "" : t("go.offline");
}

// --- the camera -------------------------------------------------------------------------------
function hint(text, still = false) {
  const el = $("#scan-hint");
  el.textContent = text;
  el.classList.toggle("still", still);
  clearTimeout(hintTimer);
  if (still) hintTimer = setTimeout(() => hint(t("go.scan_hint")), HINT_MS);
}

function cameraProblem(err) {
  if (err && (err.name === "NotAllowedError" || err.name === "SecurityError")) return t("go.camera_denied");
  if (err && err.name === "NoCameraApi") return t("go.camera_insecure");
  return t("go.no_camera");
}

async function openCamera() {
  $("#camera-error").hidden = true;
  $("#viewfinder").hidden = false;
  $("#scan").hidden = true;
  hint(t("go.scan_hint"));
  try {
    await scanner.open($("#video"), { onHint: (found) => $("#aim").classList.toggle("found", found) });
  } catch (err) {
    closeCamera();
    const box = $("#camera-error");
    box.textContent = cameraProblem(err);
    box.hidden = false;
  }
}

function closeCamera() {
  scanner.close($("#video"));
  $("#viewfinder").hidden = true;
  $("#scan").hidden = false;
  $("#aim").classList.remove("found");
}

/** "Call staff": one help request per cart, shown on the staff handhelds. */
async function callStaff() {
  if (!S.cart) return;
  try {
    await api(`${cartUrl(S.cart.session_id)}/help`, { method: "POST" });
    toast(t("kiosk.staff_called"), "ok");
  } catch (err) {
    failed(err);
  }
}

// --- wiring -------------------------------------------------------------------------------------
function wire() {
  $("#scan").addEventListener("click", openCamera);
  $("#scan-close").addEventListener("click", closeCamera);
  $("#call-staff").addEventListener("click", callStaff);
  $("#code-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const code = $("#code").value.normalize("NFKC").trim(); // a Chinese keyboard's full-width （01）１２ as ASCII
    const qty = Math.min(99, Math.max(1, parseInt($("#qty").value, 10) || 1));
    if (!code || !S.cart) return;
    $("#code").value = "";
    $("#qty").value = "1";
    net.submit({ kind: "typed", code, qty, scan_id: randomId(12) }); // a resend with this id adds nothing
  });
  wireCart();
  wireReceipts();
  onFail(failed);
  onPay((method) => {
    closeCamera();
    pay(method);
  });
  $("#new-basket").addEventListener("click", () => {
    if (S.lastOrder) sessionStorage.setItem(DISMISSED, S.lastOrder.order_id);
    showPayError("");
    go("shop");
    refresh().catch(failed);
  });
  $("#show-pass").addEventListener("click", () => {
    if (!S.lastOrder) return;
    closeCamera();
    showPass(S.lastOrder);
  });
  window.addEventListener("online", () => {
    backoff = 1000;
    schedule(0);
  });
  net.configure({
    send,
    settle,
    expired: () => refresh().catch(() => null),
    change: showQueue,
    connection: (online) => {
      banner(online);
      if (!online) {
        backoff = 1000;
        schedule(nextBackoff());
      }
    },
  });
  configurePay({ refresh, gone });
}

async function boot() {
  await initI18n();
  await loadStore().catch(() => null);
  bindLangSelect($("#lang"));
  onLangChange(() => {
    render();
    renderPass();
    rerenderPaying();
    showQueue();
    banner(net.isOnline());
    if (!$("#viewfinder").hidden) hint(t("go.scan_hint"));
  });
  wire();
  renderPass();
  await poll(); // lands on a screen once the box answers; until then it keeps asking
}

boot();
