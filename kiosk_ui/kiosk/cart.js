// The cart: lines with quantity controls, totals, member and coupons; scan confirmation.
import { api } from "/ui/common/api.js";
import { $, fill, h } from "/ui/common/dom.js";
import { fixed, money } from "/ui/common/format.js";
import { t } from "/ui/common/i18n.js";
import { beep } from "/ui/common/sound.js";
import { announce, explain, go, showAlert, state } from "./state.js";

const FLASH_MS = 1500; // how long a newly scanned line stays highlighted
const flashUntil = new Map(); // line id -> time its highlight ends (a repeated cart event keeps it)
let flashTimer = null;

const sessionUrl = () => `/api/kiosk/sessions/${encodeURIComponent(state.cart.session_id)}`;

/** A new cart view from the server (SSE or a reply); confirms newly scanned items. */
export function setCart(view) {
  if (state.cart && view.session_id !== state.cart.session_id) return;
  if (state.cart && view.version < state.cart.version) return;
  const before = new Map((state.cart ? state.cart.lines : []).map((l) => [l.line_id, l.qty]));
  state.cart = view;
  const grown = view.lines.filter((l) => (before.get(l.line_id) || 0) < l.qty);
  if (grown.length) {
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
  render();
}

/** A weighed line's label facts in the page's language; the server's sentence from older boxes. */
function measureText(l, cur) {
  if (l.measure_kind === "weight" && Number.isFinite(l.measure_grams) && Number.isFinite(l.price_per_kg_minor)) {
    return t("kiosk.measure.weight", { kg: fixed(l.measure_grams / 1000, 3), price: money(l.price_per_kg_minor, cur) });
  }
  if (l.measure_kind === "price") return t("kiosk.measure.price");
  return l.measure || "";
}

export function render() {
  const cart = state.cart;
  if (!cart) return;
  const now = Date.now();
  const flash = new Set([...flashUntil].filter(([, until]) => until > now).map(([id]) => id));
  for (const [id, until] of flashUntil) if (until <= now) flashUntil.delete(id);
  const cur = cart.currency;
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
        h("span", { class: "amount", text: money(l.gross_minor - (l.discount_minor || 0), cur) }),
        h(
          "span",
          { class: "detail" },
          `${money(l.unit_minor, cur)} × ${l.qty}`,
          l.measure_kind || l.measure ? ` · ${t("kiosk.weighed")}: ${measureText(l, cur)}` : "",
          l.age_restricted ? ` · ${t("kiosk.age_item")}` : "",
          ...(l.adjustments || []).map((a) => ` · ${a.name || ""} −${money(a.amount_minor || 0, cur)}`),
        ),
      ),
    ),
  );
  fill($("#subtotal"), money(cart.subtotal_minor, cur));
  fill($("#discount"), cart.discount_minor ? `−${money(cart.discount_minor, cur)}` : money(0, cur));
  fill($("#tax"), `${money(cart.tax_minor, cur)}${cart.tax_mode === "inclusive" ? ` (${t("kiosk.included")})` : ""}`);
  fill($("#total"), money(cart.total_minor, cur));
  fill($("#member"), cart.member ? t("kiosk.member_attached", { name: cart.member.name || cart.member.id }) : "");
  fill(
    $("#coupons"),
    cart.coupons.map((c) => h("li", { text: c.name || c.coupon_id })),
    cart.coupons_not_applied.map((c) => h("li", { class: "muted", text: `${c.name || c.coupon_id || ""} — ${c.reason || t("kiosk.coupon_not_applied")}` })),
  );
  $("#age-banner").hidden = cart.age_check !== "required";
  const empty = cart.lines.length === 0;
  const blocked = empty || cart.age_check === "required";
  for (const id of ["#pay-face", "#pay-qr", "#pay-sandbox"]) $(id).disabled = blocked;
  $("#pay-face").hidden = !state.faceCamera;
}

async function change(fn) {
  try {
    setCart(await fn());
  } catch (err) {
    showAlert(explain(err.code, err.message));
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
    const code = $("#code").value.trim();
    if (!code) return;
    $("#code").value = "";
    try {
      const out = await api(`${sessionUrl()}/items`, { method: "POST", body: { code, qty: 1 } });
      setCart(out.cart);
      for (const a of out.alerts || []) showAlert(explain(a.code, a.message), "error");
    } catch (err) {
      beep("error");
      showAlert(explain(err.code, err.message));
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
