// Paying on the phone, and the exit pass. The sandbox pays at once; a wallet (Alipay, WeChat Pay)
// is paid in its own app: the page shows the amount and a link that opens the wallet, and asks
// the box every 2 s how the payment stands. The payment in flight is kept in localStorage with
// its idempotency key: the box's state lists only open carts, so after a reload or a dropped
// connection this is how the page finds the cart being paid (and a resend pays nothing twice).
import { api } from "/ui/common/api.js";
import { $, fill } from "/ui/common/dom.js";
import { clock, money } from "/ui/common/format.js";
import { t } from "/ui/common/i18n.js";
import { beep } from "/ui/common/sound.js";
import * as net from "./net.js";
import { cartUrl, explain, go, randomId, S, sleep } from "./state.js";

const PENDING = "re_go_pending";
const POLL_MS = 2000;
// where a wallet's order link may point: the wallets' own pages and apps, nothing else
const WALLET_LINK = /^(https:\/\/|alipays?:\/\/|weixin:\/\/)/i;
const OPEN_LABELS = { alipay: "go.paying.open_alipay", wechatpay: "go.paying.open_wechatpay" };
let hooks = { refresh: async () => {}, gone: () => {} };

export function configurePay(h) {
  hooks = { ...hooks, ...h };
}

export function loadPending() {
  try {
    const p = JSON.parse(localStorage.getItem(PENDING) || "null");
    return p && typeof p.session_id === "string" && typeof p.key === "string" ? p : null;
  } catch {
    return null;
  }
}

function savePending(p) {
  localStorage.setItem(PENDING, JSON.stringify(p));
}

function done() {
  S.paying = null;
  localStorage.removeItem(PENDING);
}

export function showPayError(text) {
  const box = $("#pay-error");
  box.textContent = text || "";
  box.hidden = !text;
}

/** The shopper pressed a pay button: the total they saw is the total they pay. */
export async function pay(method) {
  const cart = S.cart;
  if (!cart || S.paying) return;
  showPayError("");
  const p = { session_id: cart.session_id, method, key: randomId(16), expected: cart.total_minor, currency: cart.currency, wallet: null };
  savePending(p);
  await run(p);
}

/** Carry a payment through: place it unless it was placed (again with its key), then watch it. */
export async function run(p) {
  S.paying = p;
  showPaying(p);
  if (!p.wallet && (await place(p)) !== "watch") return;
  await watch(p);
}

async function refused(text) {
  done();
  await hooks.refresh().catch(() => null);
  go("shop");
  beep("error");
  showPayError(text);
}

async function place(p) {
  for (;;) {
    try {
      const out = await api(`${cartUrl(p.session_id)}/pay`, {
        method: "POST",
        body: { method: p.method, expected_total_minor: p.expected, idempotency_key: p.key },
      });
      net.setOnline(true);
      if (out.status === "paid") {
        done();
        beep("ok");
        showPass(out.order);
        return "paid";
      }
      p.wallet = out.wallet;
      savePending(p);
      showPaying(p);
      return "watch";
    } catch (err) {
      if (err.code === "offline") {
        net.setOnline(false); // the same request again, same key: the box pays it once
        await sleep(POLL_MS);
        continue;
      }
      if (err.code === "cart_paying") return "watch"; // an earlier try placed it; its answer was lost
      if (err.status === 401) {
        done();
        hooks.gone();
        return "gone";
      }
      await refused(explain(err.code, err.message)); // refused before any money moved
      return "refused";
    }
  }
}

async function watch(p) {
  while (S.paying === p) {
    try {
      const st = await api(`${cartUrl(p.session_id)}/payment`);
      net.setOnline(true);
      if (st.status === "paid") {
        done();
        beep("ok");
        showPass(st.order);
        return;
      }
      if (st.status === "failed") {
        await refused(explain(st.error, t("go.pay_failed")));
        return;
      }
      fill($("#paying-status"), t("go.paying.waiting"));
    } catch (err) {
      if (err.code === "offline") {
        net.setOnline(false);
      } else if (err.status === 401) {
        done();
        hooks.gone();
        return;
      } else if ([403, 404, 410].includes(err.status)) {
        await refused(""); // not this phone's cart, or no payment on it: back to the basket
        return;
      }
    }
    await sleep(POLL_MS);
  }
}

export function showPaying(p) {
  go("paying");
  fill($("#paying-amount"), Number.isInteger(p.expected) ? money(p.expected, p.currency) : "");
  const link = $("#wallet-link");
  const url = p.wallet && typeof p.wallet.qr_code === "string" ? p.wallet.qr_code : "";
  if (url && WALLET_LINK.test(url) && OPEN_LABELS[p.method]) {
    link.href = url;
    link.textContent = t(OPEN_LABELS[p.method]);
    link.hidden = false;
  } else {
    link.removeAttribute("href");
    link.hidden = true;
  }
  fill($("#paying-status"), p.wallet ? t("go.paying.waiting") : t("go.paying.starting"));
}

/** The exit pass, big: the QR the gate camera reads, drawn by the box for this phone only. */
export function showPass(order) {
  S.lastOrder = order;
  S.passShownAt = Date.now();
  go("paid");
  const img = $("#pass-img");
  if (img.dataset.order !== order.order_id) {
    img.dataset.order = order.order_id;
    img.src = `/api/go/orders/${encodeURIComponent(order.order_id)}/pass.svg`;
  }
  renderPass();
}

export function renderPass() {
  const order = S.lastOrder;
  $("#pass-img").alt = t("go.paid.qr_alt");
  if (!order) return;
  fill($("#paid-total"), t("go.paid.total", { amount: money(order.total_minor, order.currency) }));
  fill($("#paid-valid"), order.exit_pass_expires_at ? t("go.paid.valid_until", { time: clock(order.exit_pass_expires_at) }) : "");
}

export function rerenderPaying() {
  if (S.paying && S.screen === "paying") showPaying(S.paying);
}
