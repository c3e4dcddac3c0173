// The basket as the box priced it: lines with quantity controls, member prices and promotions
// per line, order discounts and coupons, totals, the ID-check banner and the pay buttons.
import { api } from "/ui/common/api.js";
import { adjustmentText, couponWaitText, measureText, ownAdjustments } from "/ui/common/cartwords.js";
import { $, fill, h } from "/ui/common/dom.js";
import { money } from "/ui/common/format.js";
import { t } from "/ui/common/i18n.js";
import { renderReceiptsButton } from "./receipts.js";
import { cartUrl, S, toast } from "./state.js";

const FLASH_MS = 1500;
const flashUntil = new Map(); // line id -> when its highlight ends
let flashTimer = null;
let payHandler = () => {};
let failHandler = () => {};

// the wallet buttons' labels (catalog keys written out, so the catalog test sees them)
export const PAY_LABELS = { alipay: "go.pay.alipay", wechatpay: "go.pay.wechatpay", sandbox: "go.pay.sandbox" };

export function onPay(fn) {
  payHandler = fn;
}

/** How a failed change is shown (main.js: offline, no session, or the typed error). */
export function onFail(fn) {
  failHandler = fn;
}

/** A new cart view from the box (a scan's answer, a change, the state): the newest version wins. */
export function setCart(view) {
  if (!view) return;
  const old = S.cart;
  const same = old && old.session_id === view.session_id;
  if (same && view.version < old.version) return;
  const before = new Map(same ? old.lines.map((l) => [l.line_id, l.qty]) : []);
  S.cart = view;
  const grown = view.lines.filter((l) => (before.get(l.line_id) || 0) < l.qty);
  if (same && grown.length) {
    const until = Date.now() + FLASH_MS;
    for (const l of grown) flashUntil.set(l.line_id, until);
    clearTimeout(flashTimer);
    flashTimer = setTimeout(render, FLASH_MS + 50);
  }
  render();
}

/** A line, its own adjustments (member price, multi-buy, use-by markdown) worded as on the kiosk. */
function lineItem(l, cart, flash) {
  const cur = cart.currency;
  const own = ownAdjustments(l);
  const ownOff = own.reduce((sum, a) => sum + (a.amount_minor || 0), 0);
  return h(
    "li",
    { class: `line${flash ? " flash" : ""}`, dataset: { line: l.line_id, gtin: l.gtin || "" } },
    h("span", { class: "name scanned", text: l.name }),
    h("span", { class: "amount", text: money(l.gross_minor - ownOff, cur) }),
    h(
      "span",
      { class: "detail" },
      `${money(l.unit_minor, cur)} × ${l.qty}`,
      l.measure_kind || l.measure ? ` · ${t("kiosk.weighed")}: ${measureText(l, cur)}` : "",
      l.age_restricted ? ` · ${t("kiosk.age_item")}` : "",
      ...own.map((a) => ` · ${adjustmentText(a, cart)} −${money(a.amount_minor || 0, cur)}`),
    ),
    h(
      "span",
      { class: "qty" },
      h("button", { type: "button", class: "secondary", "aria-label": t("kiosk.less", { name: l.name }), text: "−", on: { click: () => setQty(l, l.qty - 1) } }),
      h("output", { text: l.qty, "aria-label": t("kiosk.quantity") }),
      h("button", { type: "button", class: "secondary", "aria-label": t("kiosk.more", { name: l.name }), text: "+", on: { click: () => setQty(l, l.qty + 1) } }),
      h("button", { type: "button", class: "danger", "aria-label": t("kiosk.remove", { name: l.name }), text: "✕", on: { click: () => setQty(l, 0) } }),
    ),
  );
}

export function render() {
  const cart = S.cart;
  if (!cart) return;
  const cur = cart.currency;
  const now = Date.now();
  for (const [id, until] of flashUntil) if (until <= now) flashUntil.delete(id);
  fill($("#lines"), cart.lines.map((l) => lineItem(l, cart, flashUntil.has(l.line_id))));
  $("#empty").hidden = cart.lines.length > 0;
  fill(
    $("#discounts"),
    (cart.order_discounts || []).map((a) => h("li", { dataset: { kind: a.kind, code: a.code || "" }, text: `${adjustmentText(a, cart)} −${money(a.amount_minor || 0, cur)}` })),
  );
  fill($("#subtotal"), money(cart.subtotal_minor, cur));
  fill($("#discount"), cart.discount_minor ? `−${money(cart.discount_minor, cur)}` : money(0, cur));
  fill($("#tax"), `${money(cart.tax_minor, cur)}${cart.tax_mode === "inclusive" ? ` (${t("kiosk.included")})` : ""}`);
  fill($("#total"), money(cart.total_minor, cur));
  fill($("#member"), cart.member ? t("kiosk.member_attached", { name: cart.member.name || cart.member.id || "" }) : "");
  // the guide whose code the shopper scanned gets credit for this sale: say so
  renderReceiptsButton(cart);
  fill($("#guide"), cart.guide ? t("kiosk.guide_attached", { name: cart.guide.guide_id }) : "");
  // an applied coupon is among the order discounts above; one that does not apply says why
  fill(
    $("#coupons"),
    (cart.coupons_not_applied || []).map((c) =>
      h("li", { class: "muted", dataset: { code: c.code || "" }, text: `${c.name || c.coupon_id || ""} — ${couponWaitText(c, cur)}` }),
    ),
    // the member's wallet coupons that do not apply yet (an applied one is among the discounts)
    (cart.wallet || [])
      .filter((w) => !w.applied)
      .map((w) => h("li", { class: "muted wallet", text: `${w.name || w.coupon_id} — ${t("kiosk.wallet_waiting", { min: money(w.min_spend_minor, cur) })}` })),
  );
  $("#age-banner").hidden = cart.age_check !== "required";
  renderPay();
}

function renderPay() {
  const cart = S.cart;
  const options = S.payOptions.filter((m) => PAY_LABELS[m]);
  $("#no-pay").hidden = options.length > 0;
  const blocked = !cart || !cart.lines.length || cart.status !== "open";
  fill(
    $("#pay-options"),
    options.map((m) => {
      const b = h("button", {
        type: "button",
        class: m === "sandbox" ? "big secondary" : "big",
        dataset: { method: m },
        text: t(PAY_LABELS[m]),
        on: { click: () => payHandler(m) },
      });
      b.disabled = blocked;
      return b;
    }),
  );
}

async function change(fn) {
  try {
    setCart(await fn());
  } catch (err) {
    failHandler(err);
  }
}

function setQty(line, qty) {
  const sid = S.cart.session_id;
  return change(() => api(`${cartUrl(sid)}/lines/${line.line_id}`, { method: "PATCH", body: { qty: Math.max(0, qty) } }));
}

export function wireCart() {
  $("#member-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("#member-code").value.trim();
    if (!value || !S.cart) return;
    // a member QR's text (RM1:...) or the phone number the membership was made with
    const body = value.startsWith("RM1:") ? { code: value } : { phone: value.replace(/[\s-]/g, "") };
    change(async () => {
      const cart = await api(`${cartUrl(S.cart.session_id)}/member`, { method: "POST", body });
      $("#member-code").value = "";
      toast(t("go.member_ok"), "ok");
      return cart;
    });
  });
  $("#coupon-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const code = $("#coupon").value.trim();
    if (!code || !S.cart) return;
    change(async () => {
      const cart = await api(`${cartUrl(S.cart.session_id)}/coupons`, { method: "POST", body: { code } });
      $("#coupon").value = "";
      const unused = cart.coupons_not_applied || [];
      if (unused.length) toast(`${unused[0].name || ""} — ${unused[0].reason || t("kiosk.coupon_not_applied")}`, "info");
      else toast(t("go.coupon_ok"), "ok");
      return cart;
    });
  });
}
