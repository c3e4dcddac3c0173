// Transactions: searchable orders, refunds and voids; each opens its receipt. A paid order can be
// voided or refunded from its row (orders.js), and a member erased below the list.
import { api } from "/ui/common/api.js";
import { $, fill, h } from "/ui/common/dom.js";
import { clock, money } from "/ui/common/format.js";
import { t } from "/ui/common/i18n.js";
import { Panel } from "./base.js";
import { orderStatus, refundOrder, voidOrder, wireErase } from "./orders.js";
import { errorText, unauthorized } from "./staff.js";

export class Transactions extends Panel {
  constructor() {
    super(15000);
    this.wired = false;
    this.drawn = null; // redraw only when the rows change, so keyboard focus stays put
  }

  show() {
    if (!this.wired) {
      this.wired = true;
      $("#tx-search").addEventListener("submit", (e) => {
        e.preventDefault();
        this.tick();
      });
      wireErase($("#tx-notice"));
    }
    this.drawn = null; // the language may have changed
    super.show();
  }

  async refresh() {
    const q = $("#tx-q").value.trim();
    const rows = await api(`/api/admin/transactions?q=${encodeURIComponent(q)}`);
    $("#tx-error").hidden = true;
    const key = JSON.stringify(rows);
    if (key === this.drawn) return;
    this.drawn = key;
    fill(
      $("#tx-rows"),
      rows.length
        ? rows.map((r) =>
            h(
              "tr",
              { dataset: { kind: r.kind, order: r.order_id } },
              h("td", { text: clock(r.time, true) }),
              h("td", { text: t(`dash.tx.kind.${r.kind}`) }),
              h("td", { class: "scanned" }, r.order_id, h("br"), h("span", { class: "muted", text: [r.kiosk_id, r.member_id].filter(Boolean).join(" · ") })),
              h("td", { text: money(r.amount_minor, r.currency) }),
              h("td", { class: "scanned", text: r.kind === "order" || r.kind === "void" ? orderStatus(r.status) : r.status }),
              h("td", { class: "actions" }, this.buttons(r)),
            ),
          )
        : h("tr", {}, h("td", { colspan: 6, class: "muted", text: t("dash.tx.none") })),
    );
  }

  /** Receipt for every row; Refund and Void for a sale that can still give money back. */
  buttons(r) {
    const out = [h("button", { type: "button", class: "secondary", text: t("dash.tx.receipt"), on: { click: () => this.receipt(r.order_id) } })];
    const act = (label, aria, fn, cls) =>
      h("button", { type: "button", class: cls, text: t(label), "aria-label": t(aria, { id: r.order_id }), dataset: { action: label.split(".").pop() }, on: { click: () => this.act(fn, r.order_id) } });
    if (r.kind === "order" && (r.status === "paid" || r.status === "partially_refunded")) {
      out.push(act("dash.act.refund", "dash.act.refund_aria", refundOrder, "secondary"));
    }
    if (r.kind === "order" && r.status === "paid") out.push(act("dash.act.void", "dash.act.void_aria", voidOrder, "danger"));
    return out;
  }

  async act(fn, orderId) {
    $("#tx-error").hidden = true;
    try {
      await fn(orderId, $("#tx-notice"), () => {
        this.drawn = null;
        this.tick();
      });
    } catch (err) {
      if (unauthorized(err)) return;
      $("#tx-error").textContent = errorText(err);
      $("#tx-error").hidden = false;
    }
  }

  async receipt(orderId) {
    const box = $("#receipt");
    try {
      const r = await api(`/api/orders/${encodeURIComponent(orderId)}/receipt`);
      const cur = r.currency;
      fill(
        box,
        h("h3", {}, t("dash.tx.receipt"), " ", h("span", { class: "scanned", text: r.order_id })),
        h("p", { class: "muted" }, r.store.name, " · ", clock(r.time, true), " · ", r.status),
        h(
          "table",
          {},
          h("tbody", {},
            r.lines.map((l) => h("tr", {}, h("td", { class: "scanned", text: `${l.name} × ${l.qty}` }), h("td", { text: money(l.gross_minor - (l.discount_minor || 0), cur) }))),
            h("tr", {}, h("th", { text: t("kiosk.total") }), h("th", { text: money(r.total_minor, cur) })),
            r.refunded_minor ? h("tr", {}, h("td", { text: t("dash.tx.kind.refund") }), h("td", { text: `−${money(r.refunded_minor, cur)}` })) : null,
          ),
        ),
        h("button", { type: "button", class: "secondary", text: t("common.close"), on: { click: () => (box.hidden = true) } }),
      );
      box.hidden = false;
      box.focus();
    } catch (err) {
      $("#tx-error").textContent = t("common.error", { msg: err.message });
      $("#tx-error").hidden = false;
    }
  }
}
