// Paying: by face (preview, liveness prompts, reasons, phone-digit fall-back), by payment QR,
// or the sandbox provider. A payment in flight is kept in localStorage with its idempotency key,
// so a reload or a dropped network repeats the same request and never pays twice or loses it.
import { api, ApiError, authHeaders } from "/ui/common/api.js";
import { $ } from "/ui/common/dom.js";
import { t } from "/ui/common/i18n.js";
import { beep } from "/ui/common/sound.js";
import { explain, go, randomKey, showAlert, state } from "./state.js";
import { showPaid } from "./paid.js";

const PENDING = "re_kiosk_pending";
const PROMPTS = ["kiosk.face.look", "kiosk.face.blink", "kiosk.face.turn"];
let previewTimer = null;
let promptTimer = null;
let previewUrl = null;

export function pendingPayment() {
  try {
    return JSON.parse(localStorage.getItem(PENDING) || "null");
  } catch {
    return null;
  }
}

/** POST the checkout; repeats with the same key while the box is unreachable. */
export async function pay(body, sessionId = state.cart.session_id) {
  const pending = { session_id: sessionId, body: { ...body, idempotency_key: body.idempotency_key || randomKey() } };
  localStorage.setItem(PENDING, JSON.stringify(pending));
  return resume(pending);
}

export async function resume(pending) {
  go("paying");
  for (let attempt = 0; ; attempt += 1) {
    try {
      const out = await api(`/api/kiosk/sessions/${encodeURIComponent(pending.session_id)}/checkout`, { method: "POST", body: pending.body });
      localStorage.removeItem(PENDING);
      beep("ok");
      await showPaid(out);
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.code === "offline" && attempt < 600) {
        await new Promise((r) => setTimeout(r, 2000));
        continue;
      }
      localStorage.removeItem(PENDING); // refused: nothing was charged (the server says so)
      beep("error");
      return err;
    }
  }
}

async function payAndReport(body, errorBox) {
  const err = await pay(body);
  if (err === true) return;
  if (errorBox) {
    go(errorBox === "#qr-error" ? "qr" : "face");
    $(errorBox).textContent = explain(err.code, err.message);
    $(errorBox).hidden = false;
  } else {
    go("cart");
    showAlert(explain(err.code, err.message));
  }
}

// --- face ------------------------------------------------------------------------------
async function refreshPreview() {
  try {
    const res = await fetch("/api/ui/kiosk/face-preview.jpg", { headers: authHeaders(), cache: "no-store" });
    if (!res.ok) return;
    const blob = await res.blob();
    if (previewTimer === null) return; // the face screen closed while this frame was on its way
    const url = URL.createObjectURL(blob);
    $("#face-preview").src = url;
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = url;
  } catch {
    /* the banner shows connection problems */
  }
}

function stopFace() {
  clearInterval(previewTimer);
  clearInterval(promptTimer);
  previewTimer = promptTimer = null;
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = null;
  $("#face-preview").removeAttribute("src"); // the shopper's face stays on screen no longer than needed
}

function prompts(on) {
  clearInterval(promptTimer);
  let i = 0;
  $("#face-prompt").textContent = on ? t(PROMPTS[0]) : "";
  if (on) promptTimer = setInterval(() => ($("#face-prompt").textContent = t(PROMPTS[(i = (i + 1) % PROMPTS.length)])), 1500);
}

async function verify(memberHint) {
  $("#face-error").hidden = true;
  $("#face-retry").hidden = true;
  prompts(true);
  try {
    const res = await api(`/api/kiosk/sessions/${encodeURIComponent(state.cart.session_id)}/face-verify`, {
      method: "POST",
      body: memberHint ? { member_hint: memberHint } : {},
    });
    prompts(false);
    if (res.decision === "match" && res.authorization) {
      stopFace();
      return payAndReport({ provider: "face", face_auth_id: res.authorization.auth_id }, null);
    }
    faceFailed(res.reason || res.decision, null);
  } catch (err) {
    prompts(false);
    faceFailed(err.code, err.message);
  }
}

function faceFailed(reason, message) {
  beep("error");
  const box = $("#face-error");
  box.textContent = explain(`face_${reason}`, message || explain(reason, t("kiosk.face.failed")));
  box.hidden = false;
  $("#face-retry").hidden = false;
  $("#digits-form").hidden = false;
}

/** Pay with the wallet code the kiosk camera read (held on the box, used once). */
export function payScannedCode() {
  state.scannedPaymentCode = false;
  payAndReport({ provider: "qr" }, "#qr-error");
}

export function startFace() {
  go("face");
  $("#digits-form").hidden = true;
  $("#face-error").hidden = true;
  refreshPreview();
  previewTimer = setInterval(refreshPreview, 300);
  verify(null);
}

// --- wiring ----------------------------------------------------------------------------
export function wirePay() {
  $("#pay-face").addEventListener("click", startFace);
  $("#face-retry").addEventListener("click", () => verify(null));
  $("#digits-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const digits = $("#digits").value.replace(/\D/g, "");
    $("#digits").value = "";
    if (digits.length >= 4) verify(`phone:${digits}`);
  });
  $("#face-back").addEventListener("click", () => {
    stopFace();
    go("cart");
  });
  $("#pay-qr").addEventListener("click", () => {
    go("qr");
    $("#qr-error").hidden = true;
    if (state.scannedPaymentCode) return payScannedCode(); // shown to the camera already
    $("#paycode").focus(); // a hand scanner types into the focused field
  });
  $("#qr-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const code = $("#paycode").value.replace(/\s/g, "");
    $("#paycode").value = "";
    if (code) payAndReport({ provider: "qr", payment_code: code }, "#qr-error");
  });
  $("#qr-back").addEventListener("click", () => go("cart"));
  $("#pay-sandbox").addEventListener("click", () => payAndReport({ provider: "sandbox" }, null));
}
