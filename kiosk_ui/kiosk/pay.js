// Paying: by face (preview, liveness prompts, reasons, phone-digit fall-back), by payment QR,
// or the sandbox provider. A payment in flight is kept in localStorage with its idempotency key,
// so a reload or a dropped network repeats the same request and never pays twice or loses it.
import { api, ApiError, authHeaders } from "/ui/common/api.js";
import { $ } from "/ui/common/dom.js";
import { money } from "/ui/common/format.js";
import { t } from "/ui/common/i18n.js";
import { beep } from "/ui/common/sound.js";
import { explain, go, randomKey, say, showAlert, state } from "./state.js";
import { showPaid } from "./paid.js";

const PENDING = "re_kiosk_pending";
// shown in turn while a verification runs (gentle: one every few seconds)
export const PROMPTS = ["kiosk.face.look", "kiosk.face.blink", "kiosk.face.turn"];
// what the shopper can do about each reason the face-verify answer gives (pipeline gates,
// liveness, match outcomes); a reason not listed keeps the generic cycle
export const REASON_PROMPTS = {
  no_face: "kiosk.face.look",
  face_too_small: "kiosk.face.closer",
  pose: "kiosk.face.straight",
  blurred: "kiosk.face.still",
  liveness: "kiosk.face.live",
  spoof: "kiosk.face.live",
  multiple_faces: "kiosk.face.alone",
  inconsistent_frames: "kiosk.face.alone",
  no_frames: "kiosk.face.look",
  below_threshold: "kiosk.face.use_digits",
  no_match: "kiosk.face.use_digits",
  not_enrolled: "kiosk.face.use_digits",
  empty_gallery: "kiosk.face.use_digits",
  ambiguous: "kiosk.face.use_digits",
};
const PROMPT_MS = 2500;
let previewTimer = null;
let faceRun = 0; // bumped when the face screen closes: an answer for an older run is dropped
let advice = null; // the prompt the last answer asked for; it leads the cycle on a retry
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
  // the total the shopper saw: a scan that lands after it is refused by the box, not charged
  const seen = state.cart?.session_id === sessionId ? state.cart.total_minor : undefined;
  const pending = {
    session_id: sessionId,
    body: { ...body, expected_total_minor: seen, idempotency_key: body.idempotency_key || randomKey() },
  };
  localStorage.setItem(PENDING, JSON.stringify(pending));
  return resume(pending);
}

export async function resume(pending) {
  go("paying");
  say($("#paying-body"), () => t("kiosk.paying_body"));
  // the amount being paid, as the box will charge it (the total the shopper saw; the cart is frozen)
  const amount = pending.body.expected_total_minor;
  say($("#paying-amount"), Number.isInteger(amount) ? () => money(amount) : null);
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
  let err = await pay(body);
  if (err === true) return;
  if (err.details?.charged === "unknown" && err.code !== "order_not_saved") {
    // whatever went wrong, the shopper must hear that money may be held (never "nothing was charged")
    err = { code: "payment_unconfirmed", message: err.message };
  }
  if (errorBox) {
    go(errorBox === "#qr-error" ? "qr" : "face");
    say($(errorBox), () => explain(err.code, err.message, err.details));
    $(errorBox).hidden = false;
  } else {
    go("cart");
    showAlert(err);
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

/** Leave the face screen's camera: stop the preview polling and the prompts, drop the frame. */
export function stopFace() {
  clearInterval(previewTimer);
  clearInterval(promptTimer);
  previewTimer = promptTimer = null;
  advice = null;
  faceRun += 1;
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = null;
  $("#face-preview").removeAttribute("src"); // the shopper's face stays on screen no longer than needed
}

function showPrompt(key) {
  const el = $("#face-prompt");
  say(el, key ? () => t(key) : null);
  el.dataset.prompt = key || "";
}

/** While waiting: cycle gently, starting with what the last answer asked for. */
function prompts(on) {
  clearInterval(promptTimer);
  promptTimer = null;
  if (!on) return;
  const cycle = advice && !PROMPTS.includes(advice) ? [advice, ...PROMPTS] : PROMPTS;
  let i = advice ? Math.max(0, cycle.indexOf(advice)) : 0;
  showPrompt(cycle[i]);
  promptTimer = setInterval(() => showPrompt(cycle[(i = (i + 1) % cycle.length)]), PROMPT_MS);
}

/** The actionable prompt for a verify answer: its reason, else a note such as "multiple_faces:2:...". */
function adviceFor(reason, notes = []) {
  if (REASON_PROMPTS[reason]) return REASON_PROMPTS[reason];
  for (const n of notes) {
    const key = REASON_PROMPTS[String(n).split(":")[0]];
    if (key) return key;
  }
  return null;
}

async function verify(memberHint) {
  $("#face-error").hidden = true;
  $("#face-retry").hidden = true;
  prompts(true);
  const run = faceRun;
  const gone = () => run !== faceRun || state.screen !== "face"; // the shopper left, or the kiosk reset
  try {
    const res = await api(`/api/kiosk/sessions/${encodeURIComponent(state.cart.session_id)}/face-verify`, {
      method: "POST",
      body: memberHint ? { member_hint: memberHint } : {},
    });
    if (gone()) return;
    prompts(false);
    if (res.decision === "match" && res.authorization) {
      stopFace();
      return payAndReport({ provider: "face", face_auth_id: res.authorization.auth_id }, null);
    }
    const reason = res.reason || res.decision;
    faceFailed(reason, null, adviceFor(reason, res.notes));
  } catch (err) {
    if (gone()) return;
    prompts(false);
    faceFailed(err.code, err.message, adviceFor(String(err.code || "").replace(/^face_/, "")));
  }
}

function faceFailed(reason, message, key) {
  beep("error");
  advice = key;
  showPrompt(key);
  const box = $("#face-error");
  say(box, () => explain(`face_${reason}`, message || explain(reason, t("kiosk.face.failed"))));
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
  advice = null;
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
