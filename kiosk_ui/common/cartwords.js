// What a priced cart says, in the shopper's language: the kiosk and the phone show the same words.
// Everything the server says about a price comes as a code with params (each adjustment's
// `code`/`params`, edge/checkout/pricing.py); the page says it in the shopper's language and the
// store's currency. Names a retailer typed (promotions, coupons) are data, shown as they are.
import { fixed, money } from "/ui/common/format.js";
import { currentLang, t } from "/ui/common/i18n.js";

// Order-wide discounts (a spend threshold, a coupon) are shared over the lines for tax; they
// are shown once, by the totals, and each line shows its own (member price, multi-buy, use-by).
const ORDER_WIDE = new Set(["threshold", "coupon"]);

/** A line's own adjustments (not its share of an order-wide discount). */
export function ownAdjustments(line) {
  return (line.adjustments || []).filter((a) => !ORDER_WIDE.has(a.kind));
}

/** A calendar day (YYYY-MM-DD, a pack's use-by date) in the page's language. */
export function day(iso) {
  const d = new Date(`${iso}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return String(iso);
  return new Intl.DateTimeFormat(currentLang(), { dateStyle: "medium", timeZone: "UTC" }).format(d);
}

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

export function couponName(cart, id) {
  const c = (cart.coupons || []).find((x) => x.coupon_id === id);
  return (c && c.name) || t("kiosk.coupon_default");
}

/** What a price adjustment says: the rule in the shopper's language, after the promotion's or
 * coupon's own name (the retailer's words) when it has one. */
export function adjustmentText(a, cart) {
  const why = codeText(a.code, a.params, a.reason, cart.currency);
  if (a.kind === "member_price" || a.kind === "markdown") return why; // the box's own words: all in `why`
  let name = a.name;
  if (a.kind === "coupon") {
    name = couponName(cart, a.rule_id);
  } else if (!name || name === a.rule_id) {
    return why; // a promotion without a name: its rule says it all
  }
  return why ? `${name}: ${why}` : name;
}

/** Why a coupon in the cart does not apply yet (a minimum spend not met, ...). */
export function couponWaitText(c, cur) {
  return codeText(c.code, c.params, c.reason || t("kiosk.coupon_not_applied"), cur);
}

/** A weighed line's label facts in the page's language; the server's sentence from older boxes. */
export function measureText(l, cur) {
  if (l.measure_kind === "weight" && Number.isFinite(l.measure_grams) && Number.isFinite(l.price_per_kg_minor)) {
    return t("kiosk.measure.weight", { kg: fixed(l.measure_grams / 1000, 3), price: money(l.price_per_kg_minor, cur) });
  }
  if (l.measure_kind === "price") return t("kiosk.measure.price");
  return l.measure || "";
}
