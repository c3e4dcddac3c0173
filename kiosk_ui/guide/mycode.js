// The guide's personal code: a QR a shopper scans so the sale gives this guide credit.
import { api, authHeaders } from "/ui/common/api.js";
import { $ } from "/ui/common/dom.js";
import { t } from "/ui/common/i18n.js";

let qrUrl = null;

async function open() {
  const code = await api("/api/fitting/guide-code");
  // rendered on the box from the code's text (POST keeps the code out of URLs and logs)
  const res = await fetch("/api/ui/qr.svg", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...authHeaders() },
    body: JSON.stringify({ text: code.code }),
    cache: "no-store",
  });
  if (!res.ok) throw new Error(`qr ${res.status}`);
  if (qrUrl) URL.revokeObjectURL(qrUrl);
  qrUrl = URL.createObjectURL(await res.blob());
  $("#mycode-qr").src = qrUrl;
  $("#mycode-qr").dataset.code = code.code;
  $("#mycode-expires").textContent = t("guide.mycode.valid_until", { time: new Date(code.expires_at).toLocaleTimeString() });
  $("#mycode").hidden = false;
}

export function bindMyCode(onError) {
  $("#mycode-open").addEventListener("click", () => open().catch(onError));
  $("#mycode-close").addEventListener("click", () => {
    $("#mycode").hidden = true;
  });
}

export function showMyCodeButton(shown) {
  $("#mycode-open").hidden = !shown;
  if (!shown) $("#mycode").hidden = true;
}
