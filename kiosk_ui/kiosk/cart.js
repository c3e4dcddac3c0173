// The cart: lines with quantity controls, totals, member and coupons; scan confirmation.
// Everything the server says about a price comes as a code with params (each adjustment's
// `code`/`params`, edge/checkout/pricing.py); the page says it in the shopper's language and the
// store's currency. Names a retailer typed (promotions, coupons) are data, shown as they are.
import { api } from "/ui/common/api.js";
import { $, fill, h } from "/ui/common/dom.js";
import { fixed, money } from "/ui/common/format.js";
import { currentLang, t } from "/ui/common/i18n.js";
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

/** A calendar day (YYYY-MM-DD, a pack's use-by date) in the page's language. */
function day(iso) {
  const d = new Date(`${iso}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return String(iso);
  return new Intl.DateTimeFormat(currentLang(), { dateStyle: "medium", timeZone: "UTC" }).format(d);
}

/** Params as the catalog sentence shows them: `x_minor` as money `x`, `date` as a day, lists joined. */
function sayParams(params, cur) {
  const out = {};
  for (const [k, v] of Object.entries(params || {})) {
    if (k.endsWith("_minor")) out[k.slice(0, -"_minor".length)] = money(v, cur);
    else if (k === "date") out[k] = day(v);
    else if (Array.isArray(v)) out[k] = new Intl.ListFormat(currentLang(), { type: "conjunction" }).format(v.map(String));
    else out[k] = v;
  }
  return out;
}

/** The sentence for a server code (`adj.<code>`), or the server's own text for a code this page does not know. */
export function codeText(code, params, fallback, cur) {
  if (!code) return fallback || "";
  const key = `adj.${code}`;
  const text = t(key, sayParams(params, cur));
  return text === key ? fallback || "" : text;
}

// Order-wide discounts (a spend threshold, a coupon) are shared over the lines for tax; they
// are shown once, by the totals, and each line shows its own (member price, multi-buy, use-by).
const ORDER_WIDE = new Set(["threshold", "coupon"]);

/** What a price adjustment says: the rule in the shopper's language, after the promotion's or
 * coupon's own name (the retailer's words) when it has one. */
function adjustmentText(a, cart) {
  const why = codeText(a.code, a.params, a.reason, cart.currency);
  if (a.kind === "member_price" || a.kind === "markdown") return why; // the box's own words: all in `why`
  let name = a.name;
  if (a.kind === "coupon") {
    const c = (cart.coupons || []).find((x) => x.coupon_id === a.rule_id);
    name = (c ? c.name : "") || t("kiosk.coupon_default");
  } else if (!name || name === a.rule_id) {
    return why; // a promotion without a name: its rule says it all
  }
  return why ? `${name}: ${why}` : name;
}

function couponName(cart, id) {
  const c = (cart.coupons || []).find((x) => x.coupon_id === id);
  return (c && c.name) || t("kiosk.coupon_default");
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
  const adjustment = (a) =>
    h(
      "li",
      { class: "adj", dataset: { kind: a.kind, code: a.code || "" } },
      h("span", { class: "why scanned", text: adjustmentText(a, cart) }),
      h("span", { class: "off", text: `−${money(a.amount_minor || 0, cur)}` }),
    );
  const own = (l) => (l.adjustments || []).filter((a) => !ORDER_WIDE.has(a.kind));
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
  const why = (c) => codeText(c.code, c.params, c.reason || t("kiosk.coupon_not_applied"), cur);
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
    const code = $("#code").value.trim();
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
