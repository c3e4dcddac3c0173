// After paying: the exit-pass QR with a countdown, and the receipt in the store's zone.
import { api, authHeaders } from "/ui/common/api.js";
import { $, fill, h } from "/ui/common/dom.js";
import { clock, duration, money } from "/ui/common/format.js";
import { t } from "/ui/common/i18n.js";
import { go, say, state } from "./state.js";

let countdown = null;
let qrUrl = null;
let receipt = null; // the receipt shown: {ok, data}; a language switch draws it again

export async function showPaid(out) {
  state.paid = out;
  go("paid");
  // rendered on the box from the pass text (POST keeps the pass out of URLs)
  const res = await fetch("/api/ui/qr.svg", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...authHeaders() },
    body: JSON.stringify({ text: out.exit_pass }),
    cache: "no-store",
  });
  if (res.ok) {
    if (qrUrl) URL.revokeObjectURL(qrUrl);
    qrUrl = URL.createObjectURL(await res.blob());
    $("#pass-qr").src = qrUrl;
  }
  $("#pass-qr").dataset.order = out.order_id;
  const expires = new Date(out.exit_pass_expires_at).getTime();
  const tick = () => {
    const left = (expires - Date.now()) / 1000;
    const el = $("#pass-countdown");
    el.classList.toggle("expired", left <= 0);
    say(el, () => (left > 0 ? t("kiosk.paid.valid_for", { time: duration(left) }) : t("kiosk.paid.expired")));
  };
  clearInterval(countdown);
  tick();
  countdown = setInterval(tick, 1000);
  receipt = null;
  fill($("#receipt"));
  try {
    receipt = { ok: true, data: await api(out.receipt_url) };
  } catch {
    receipt = { ok: false };
  }
  if (state.paid === out) redrawPaid();
}

/** The receipt in the page's language (after it arrived, and after a language switch). */
export function redrawPaid() {
  if (!state.paid || !receipt) return;
  if (receipt.ok) renderReceipt(receipt.data);
  else fill($("#receipt"), h("p", { class: "muted", text: t("kiosk.receipt_later") }));
}

export function clearPaid() {
  clearInterval(countdown);
  countdown = null;
  if (qrUrl) URL.revokeObjectURL(qrUrl);
  qrUrl = null;
  $("#pass-qr").removeAttribute("src");
  state.paid = null;
  receipt = null;
  fill($("#receipt"));
}

function renderReceipt(r) {
  const cur = r.currency;
  fill(
    $("#receipt"),
    h("p", {}, h("strong", { text: r.store.name }), h("br"), clock(r.time, true), h("br"), h("span", { class: "muted", text: `${t("kiosk.order")} ${r.receipt_number}` })),
    h(
      "table",
      {},
      h("tbody", {},
        r.lines.map((l) => h("tr", {}, h("td", { class: "scanned", text: `${l.name} × ${l.qty}` }), h("td", { text: money(l.gross_minor - (l.discount_minor || 0), cur) }))),
        r.discount_minor ? h("tr", {}, h("td", { text: t("kiosk.discount") }), h("td", { text: `−${money(r.discount_minor, cur)}` })) : null,
        h("tr", {}, h("td", { text: t("kiosk.tax") }), h("td", { text: money(r.tax_minor, cur) })),
        h("tr", { class: "total" }, h("th", { text: t("kiosk.total") }), h("th", { text: money(r.total_minor, cur) })),
      ),
    ),
    r.member ? h("p", { class: "muted", text: t("kiosk.member_attached", { name: r.member.name || r.member.id }) }) : null,
    r.payment ? h("p", { class: "muted", text: `${t("kiosk.paid_with")}: ${t(`kiosk.provider.${r.payment.provider}`)}` }) : null,
  );
}
