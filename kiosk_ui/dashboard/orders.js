// Staff actions on a sale (Transactions tab): void it, refund lines, and erase a member. Money
// goes back the way it was paid (the order's payment rail); each action needs a reason and a
// confirm step, and the daemon audits who and why.
import { api } from "/ui/common/api.js";
import { $, fill, h } from "/ui/common/dom.js";
import { clock, money } from "/ui/common/format.js";
import { t } from "/ui/common/i18n.js";
import { alertBox, busy, buttons, confirmWithReason, dialog, errorText, field, givenReason, notify, reasonField, showError, unauthorized } from "./staff.js";

const ORDER_STATUS = {
  paid: "dash.order.paid",
  partially_refunded: "dash.order.partially_refunded",
  refunded: "dash.order.refunded",
  voided: "dash.order.voided",
};
const RAIL = { alipay: "dash.rail.alipay", wechatpay: "dash.rail.wechatpay", sandbox: "dash.rail.sandbox", face: "dash.rail.face" };

export function orderStatus(status) {
  return ORDER_STATUS[status] ? t(ORDER_STATUS[status]) : status;
}

function rail(receipt) {
  const p = receipt.payment && receipt.payment.provider;
  return RAIL[p] ? t(RAIL[p]) : p || "—";
}

/** Each line with what is left to refund (the receipt lists done refunds per line number). */
export function refundable(receipt) {
  const done = {};
  for (const r of receipt.refunds || []) {
    for (const l of r.lines || []) {
      const d = (done[l.line_no] ||= { qty: 0, minor: 0 });
      d.qty += l.qty;
      d.minor += l.amount_minor;
    }
  }
  return receipt.lines.map((l, i) => {
    const d = done[i + 1] || { qty: 0, minor: 0 }; // line numbers follow the receipt's order, from 1
    return { line_no: i + 1, name: l.name, qty: l.qty, net: l.net_minor, left: l.qty - d.qty, doneQty: d.qty, doneMinor: d.minor };
  });
}

/** What `qty` units of a line give back: the daemon's own rule (edge/checkout/refunds.py _plan). */
export function lineAmount(line, qty) {
  if (qty + line.doneQty === line.qty) return line.net - line.doneMinor;
  return Math.floor((2 * line.net * qty + line.qty) / (2 * line.qty));
}

function summary(receipt) {
  return t("dash.act.paid_with", { total: money(receipt.total_minor, receipt.currency), rail: rail(receipt), time: clock(receipt.time, true) });
}

/** Void: the whole sale goes back through its rail; reason, then confirm. */
export async function voidOrder(orderId, notice, refresh) {
  const receipt = await api(`/api/orders/${encodeURIComponent(orderId)}/receipt`);
  const total = money(receipt.total_minor, receipt.currency);
  const reason = reasonField();
  const box = alertBox();
  const choose = h("section", {}, h("p", { text: summary(receipt) }), h("p", { text: t("dash.act.void_explain", { total, rail: rail(receipt) }) }), ...reason.nodes);
  const review = h("p", { class: "confirm-text", hidden: true });
  const back = h("button", { type: "button", class: "secondary", text: t("common.cancel") });
  const next = h("button", { type: "submit", class: "danger", text: t("dash.act.void_review") });
  const form = h("form", { novalidate: true }, choose, review, box, buttons(back, next));
  const d = dialog(t("dash.act.void_title", { number: receipt.receipt_number }), form);
  let reviewing = false;
  const step = (on) => {
    reviewing = on;
    choose.hidden = on;
    review.hidden = !on;
    back.textContent = t(on ? "dash.act.back" : "common.cancel");
    next.textContent = t(on ? "dash.act.void_now" : "dash.act.void_review");
    box.hidden = true;
  };
  back.addEventListener("click", () => (reviewing ? step(false) : d.close()));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!reviewing) {
      const why = givenReason(reason.input, box);
      if (why === null) return;
      review.textContent = t("dash.act.void_confirm", { total, rail: rail(receipt), reason: why });
      step(true);
      next.focus();
      return;
    }
    busy(d, true, next, back);
    try {
      const out = await api(`/api/checkout/orders/${encodeURIComponent(orderId)}/void`, { method: "POST", body: { reason: reason.input.value.trim() } });
      busy(d, false, next, back);
      d.close();
      notify(notice, t("dash.act.voided", { number: receipt.receipt_number, amount: money(out.refunded_minor, receipt.currency), rail: rail(receipt) }));
      refresh();
    } catch (err) {
      busy(d, false, next, back);
      if (unauthorized(err)) return d.close();
      showError(box, errorText(err));
    }
  });
  reason.input.focus();
}

/** Refund: choose lines and units, give a reason, review the amount, confirm. */
export async function refundOrder(orderId, notice, refresh) {
  const receipt = await api(`/api/orders/${encodeURIComponent(orderId)}/receipt`);
  const cur = receipt.currency;
  const lines = refundable(receipt).filter((l) => l.left > 0);
  const box = alertBox();
  if (!lines.length) {
    const close = h("button", { type: "button", text: t("common.close") });
    const d = dialog(t("dash.act.refund_title", { number: receipt.receipt_number }), h("p", { text: t("kiosk.err.nothing_to_refund") }), buttons(close));
    close.addEventListener("click", () => d.close());
    return;
  }
  const inputs = lines.map((l) => {
    const [label, input] = field("dash.act.units", { type: "number", min: 0, max: l.left, step: 1, value: 0, inputmode: "numeric", dataset: { line: l.line_no } });
    fill(label, h("span", { class: "scanned", text: l.name }), " ", h("span", { class: "muted", text: t("dash.act.units_left", { left: l.left, qty: l.qty }) }));
    return { line: l, label, input };
  });
  const all = h("button", { type: "button", class: "secondary", text: t("dash.act.refund_all") });
  all.addEventListener("click", () => inputs.forEach((x) => (x.input.value = String(x.line.left))));
  const reason = reasonField();
  const choose = h(
    "section",
    {},
    h("p", { text: summary(receipt) }),
    h("p", { class: "muted", text: t("dash.act.refund_explain", { rail: rail(receipt) }) }),
    h("div", { class: "refund-lines" }, inputs.map((x) => h("div", { class: "refund-line" }, x.label, x.input))),
    h("p", {}, all),
    ...reason.nodes,
  );
  const review = h("div", { class: "confirm-text", hidden: true });
  const back = h("button", { type: "button", class: "secondary", text: t("common.cancel") });
  const next = h("button", { type: "submit", class: "danger", text: t("dash.act.refund_review") });
  const form = h("form", { novalidate: true }, choose, review, box, buttons(back, next));
  const d = dialog(t("dash.act.refund_title", { number: receipt.receipt_number }), form);
  let plan = null;
  const step = (on) => {
    choose.hidden = !!on;
    review.hidden = !on;
    back.textContent = t(on ? "dash.act.back" : "common.cancel");
    next.textContent = t(on ? "dash.act.refund_now" : "dash.act.refund_review");
    box.hidden = true;
  };
  back.addEventListener("click", () => {
    if (plan) {
      plan = null;
      step(false);
    } else d.close();
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!plan) {
      const chosen = [];
      for (const x of inputs) {
        const n = Number(x.input.value || 0);
        if (!Number.isInteger(n) || n < 0 || n > x.line.left) return showError(box, t("dash.act.units_bad", { name: x.line.name, left: x.line.left }));
        if (n > 0) chosen.push({ line: x.line, qty: n });
      }
      if (!chosen.length) return showError(box, t("dash.act.units_none"));
      const why = givenReason(reason.input, box);
      if (why === null) return;
      const amount = chosen.reduce((sum, c) => sum + lineAmount(c.line, c.qty), 0);
      plan = { lines: chosen.map((c) => ({ line_no: c.line.line_no, qty: c.qty })), reason: why };
      fill(
        review,
        h("p", { text: t("dash.act.refund_confirm", { amount: money(amount, cur), rail: rail(receipt) }) }),
        h("ul", {}, chosen.map((c) => h("li", { class: "scanned", text: `${c.line.name} × ${c.qty} · ${money(lineAmount(c.line, c.qty), cur)}` }))),
        h("p", { class: "scanned", text: t("dash.act.reason_is", { reason: why }) }),
      );
      step(true);
      next.focus();
      return;
    }
    busy(d, true, next, back);
    try {
      const out = await api(`/api/checkout/orders/${encodeURIComponent(orderId)}/refund`, { method: "POST", body: plan });
      busy(d, false, next, back);
      d.close();
      notify(notice, t("dash.act.refunded", { number: receipt.receipt_number, amount: money(out.amount_minor, cur), rail: rail(receipt), status: orderStatus(out.status) }));
      refresh();
    } catch (err) {
      busy(d, false, next, back);
      if (unauthorized(err)) return d.close();
      showError(box, errorText(err));
      refresh(); // a pending refund shows in the list
    }
  });
  inputs[0].input.focus();
}

/** Erase a member: the loyalty record's personal data and any face-pay enrolment, with a reason. */
export function wireErase(notice) {
  $("#erase-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("#erase-id");
    const box = $("#erase-error");
    box.hidden = true;
    const id = input.value.trim();
    if (!/^[A-Za-z0-9_.:@-]{1,80}$/.test(id)) return showError(box, t("dash.act.erase_bad_id"));
    const out = await confirmWithReason({
      title: t("dash.act.erase_title"),
      text: t("dash.act.erase_confirm", { id }),
      confirmLabel: t("dash.act.erase_now"),
      action: (reason) => api(`/api/checkout/members/${encodeURIComponent(id)}`, { method: "DELETE", body: { reason } }),
    });
    if (!out) return;
    input.value = "";
    const face = out.face_erased === null ? t("dash.act.erase_face_off") : out.face_erased ? t("dash.act.erase_face_done") : t("dash.act.erase_face_none");
    const loyalty = out.loyalty_erased ? t("dash.act.erase_loyalty_done") : t("dash.act.erase_loyalty_none");
    notify(notice, t("dash.act.erased", { id: out.member_id, loyalty, face }));
  });
}
