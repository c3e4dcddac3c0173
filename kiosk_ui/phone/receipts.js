// E-receipts: a member who attached their member code sees their recent receipts from this store.
import { api } from "/ui/common/api.js";
import { $, fill, h } from "/ui/common/dom.js";
import { money } from "/ui/common/format.js";
import { t } from "/ui/common/i18n.js";
import { cartUrl, explain, S, toast } from "./state.js";

function receiptItem(r) {
  const when = new Date(r.time).toLocaleString();
  const status = r.status === "paid" ? "" : ` · ${t(`go.receipts.status.${r.status}`) || r.status}`;
  return h(
    "li",
    { class: "receipt", dataset: { order: r.order_id } },
    h("div", { class: "row" }, h("strong", { text: money(r.total_minor, r.currency) }), h("span", { class: "muted", text: `${when}${status}` })),
    h("div", { class: "muted", text: t("go.receipts.number", { number: r.receipt_number }) }),
    h("ul", { class: "receipt-lines" }, r.lines.map((l) => h("li", { text: `${l.name} × ${l.qty} — ${money(l.net_minor, r.currency)}` }))),
  );
}

async function open() {
  if (!S.cart) return;
  try {
    const list = await api(`${cartUrl(S.cart.session_id)}/receipts`);
    fill($("#receipt-list"), list.map(receiptItem));
    $("#receipts-none").hidden = list.length > 0;
    $("#receipts").hidden = false;
    $("#receipts").scrollIntoView({ block: "start" });
  } catch (err) {
    toast(explain(err.code, err.message), "error");
  }
}

/** The button shows for a member proven by their code: only they may see their receipts. */
export function renderReceiptsButton(cart) {
  const proven = Boolean(cart && cart.member && cart.member.via === "code");
  $("#receipts-open").hidden = !proven;
  if (!proven) $("#receipts").hidden = true;
}

export function wireReceipts() {
  $("#receipts-open").addEventListener("click", open);
  $("#receipts-close").addEventListener("click", () => {
    $("#receipts").hidden = true;
  });
}
