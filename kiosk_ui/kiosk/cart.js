// The cart: lines with quantity controls, totals, member and coupons; scan confirmation.
// What prices say (adjustments, coupons, weighed lines) is worded in /ui/common/cartwords.js.
import { api } from "/ui/common/api.js";
import { adjustmentText, couponName, couponWaitText, measureText, ownAdjustments } from "/ui/common/cartwords.js";
import { $, fill, h } from "/ui/common/dom.js";
import { money } from "/ui/common/format.js";
import { t } from "/ui/common/i18n.js";
import { beep } from "/ui/common/sound.js";
import { announce, go, pinAlert, showAlert, state, successAt } from "./state.js";

const FLASH_MS = 1500; // how long a newly scanned line stays highlighted
const flashUntil = new Map(); // line id -> time its highlight ends (a repeated cart event keeps it)
let flashTimer = null;

const sessionUrl = () => `/api/kiosk/sessions/${encodeURIComponent(state.cart.session_id)}`;

/** A new cart view from the server (SSE or a reply); confirms newly scanned items. */
export function setCart(view) {
  if (state.cart && view.session_id !== state.cart.session_id) return;
  if (state.cart && view.version < state.cart.version) return;
  const adopting = !state.cart; // a session the page takes over (a reload): its items were not just scanned
  const before = new Map((state.cart ? state.cart.lines : []).map((l) => [l.line_id, l.qty]));
  state.cart = view;
  const grown = adopting ? [] : view.lines.filter((l) => (before.get(l.line_id) || 0) < l.qty);
  if (grown.length) {
    successAt(view.version); // an item went in: a banner about an earlier scan is stale now
    const until = Date.now() + FLASH_MS;
    for (const l of grown) flashUntil.set(l.line_id, until);
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => render(), FLASH_MS + 50);
    beep("ok");
    announce(t("kiosk.added", { name: grown[grown.length - 1].name }));
    state.lastActivity = Date.now();
  }
  if (view.status === "open" && view.lines.length && state.screen === "attract") go("cart");
  if (["expired", "cancelled"].includes(view.status) && !["paid", "paying"].includes(state.screen)) {
    window.dispatchEvent(new Event("kiosk:session-ended")); // main.js opens a fresh session
  }
  pinAlert(view.version);
  render();
}

export function render() {
  const cart = state.cart;
  if (!cart) return;
  const now = Date.now();
  const flash = new Set([...flashUntil].filter(([, until]) => until > now).map(([id]) => id));
  for (const [id, until] of flashUntil) if (until <= now) flashUntil.delete(id);
  const cur = cart.currency;
  const adjustment = (a) =>
    h(
      "li",
      { class: "adj", dataset: { kind: a.kind, code: a.code || "" } },
      h("span", { class: "why scanned", text: adjustmentText(a, cart) }),
      h("span", { class: "off", text: `−${money(a.amount_minor || 0, cur)}` }),
    );
  const own = ownAdjustments;
  const ownOff = (l) => own(l).reduce((sum, a) => sum + (a.amount_minor || 0), 0);
  fill(
    $("#lines"),
    cart.lines.map((l) =>
      h(
        "li",
        { class: `line${flash.has(l.line_id) ? " flash" : ""}`, dataset: { line: l.line_id, gtin: l.gtin } },
        h("span", { class: "name scanned", text: l.name }),
        h(
          "span",
          { class: "qty" },
          h("button", { type: "button", class: "secondary", "aria-label": t("kiosk.less", { name: l.name }), text: "−", on: { click: () => setQty(l, l.qty - 1) } }),
          h("output", { text: l.qty, "aria-label": t("kiosk.quantity") }),
          h("button", { type: "button", class: "secondary", "aria-label": t("kiosk.more", { name: l.name }), text: "+", on: { click: () => setQty(l, l.qty + 1) } }),
          h("button", { type: "button", class: "danger", "aria-label": t("kiosk.remove", { name: l.name }), text: "✕", on: { click: () => setQty(l, 0) } }),
        ),
        h("span", { class: "amount", text: money(l.gross_minor - ownOff(l), cur) }),
        h(
          "span",
          { class: "detail" },
          `${money(l.unit_minor, cur)} × ${l.qty}`,
          l.measure_kind || l.measure ? ` · ${t("kiosk.weighed")}: ${measureText(l, cur)}` : "",
          l.age_restricted ? ` · ${t("kiosk.age_item")}` : "",
        ),
        own(l).length ? h("ul", { class: "adjustments" }, own(l).map(adjustment)) : null,
      ),
    ),
  );
  fill($("#order-discounts"), (cart.order_discounts || []).map(adjustment));
  // the item just scanned is in view, however long the list (only the list scrolls on a kiosk display)
  const fresh = [...$("#lines").querySelectorAll("li.line.flash")].pop();
  if (fresh && state.screen === "cart") fresh.scrollIntoView({ block: "nearest" });
  fill($("#subtotal"), money(cart.subtotal_minor, cur));
  fill($("#discount"), cart.discount_minor ? `−${money(cart.discount_minor, cur)}` : money(0, cur));
  fill($("#tax"), `${money(cart.tax_minor, cur)}${cart.tax_mode === "inclusive" ? ` (${t("kiosk.included")})` : ""}`);
  fill($("#total"), money(cart.total_minor, cur));
  fill($("#member"), cart.member ? t("kiosk.member_attached", { name: cart.member.name || cart.member.id }) : "");
  // the guide whose code the shopper scanned gets credit for this sale: say so
  fill($("#guide"), cart.guide ? t("kiosk.guide_attached", { name: cart.guide.guide_id }) : "");
  // the coupons in the cart; one waiting (a minimum spend not met yet) says why, in the page's words
  const waiting = new Map(cart.coupons_not_applied.map((c) => [c.coupon_id, c]));
  const why = (c) => couponWaitText(c, cur);
  fill(
    $("#coupons"),
    cart.coupons.map((c) =>
      waiting.has(c.coupon_id)
        ? h("li", { class: "muted", dataset: { code: waiting.get(c.coupon_id).code || "" }, text: `${c.name || couponName(cart, c.coupon_id)} — ${why(waiting.get(c.coupon_id))}` })
        : h("li", { text: c.name || c.coupon_id }),
    ),
    cart.coupons_not_applied
      .filter((c) => !cart.coupons.some((x) => x.coupon_id === c.coupon_id))
      .map((c) => h("li", { class: "muted", dataset: { code: c.code || "" }, text: `${couponName(cart, c.coupon_id)} — ${why(c)}` })),
    // the member's wallet coupons that do not apply yet (the ones that do are in the cart above)
    (cart.wallet || [])
      .filter((w) => !w.applied)
      .map((w) => h("li", { class: "muted wallet", text: `${w.name || w.coupon_id} — ${t("kiosk.wallet_waiting", { min: money(w.min_spend_minor, cur) })}` })),
  );
  $("#age-banner").hidden = cart.age_check !== "required";
  const empty = cart.lines.length === 0;
  const blocked = empty || cart.age_check === "required";
  for (const id of ["#pay-face", "#pay-qr", "#pay-sandbox"]) $(id).disabled = blocked;
  $("#pay-face").hidden = !state.faceCamera;
}

async function change(fn) {
  try {
    const view = await fn();
    setCart(view);
    successAt(view.version); // the shopper's change went through: an older error banner is stale
  } catch (err) {
    showAlert(err);
  }
}

function setQty(line, qty) {
  return change(() =>
    qty <= 0
      ? api(`${sessionUrl()}/lines/${line.line_id}`, { method: "DELETE" })
      : api(`${sessionUrl()}/lines/${line.line_id}`, { method: "PATCH", body: { qty } }),
  );
}

export function wireCart() {
  $("#code-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const code = $("#code").value.normalize("NFKC").trim(); // a Chinese keyboard's full-width （01）１２ as ASCII
    if (!code) return;
    $("#code").value = "";
    try {
      const out = await api(`${sessionUrl()}/items`, { method: "POST", body: { code, qty: 1 } });
      setCart(out.cart);
      successAt(out.cart.version); // (also when the line was there already: setCart saw no new line)
      for (const a of out.alerts || []) showAlert(a, "error", { since: out.cart.version });
    } catch (err) {
      beep("error");
      showAlert(err);
    }
  });
  $("#member-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const phone = $("#phone").value.trim();
    $("#phone").value = "";
    change(() => api(`${sessionUrl()}/member`, { method: "POST", body: { phone } }));
  });
  $("#coupon-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const code = $("#coupon").value.trim();
    $("#coupon").value = "";
    change(() => api(`${sessionUrl()}/coupons`, { method: "POST", body: { code } }));
  });
}
