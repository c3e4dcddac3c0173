// Exit-gate screen: what the gate decided for each pass, live (open, rescan, or refused and why),
// and a field to check a pass by hand (a pass read elsewhere, or the demo without a gate camera).
import { api, ApiError, setBearer } from "/ui/common/api.js";
import { $, fill, h, screen } from "/ui/common/dom.js";
import { clock, loadStore } from "/ui/common/format.js";
import { bindLangSelect, initI18n, onLangChange, t } from "/ui/common/i18n.js";
import { beep } from "/ui/common/sound.js";
import { LiveStream, refreshBanner } from "/ui/common/sse.js";

const TOKEN_KEY = "re_gate_token";
const recent = [];
let stream = null;

function verdictText(item) {
  if (item.open) return item.audit ? [t("gate.audit"), t("gate.audit_detail")] : [t("gate.open"), t("gate.open_detail")];
  return [t("gate.refused"), t(`kiosk.err.pass_${item.reason}`)];
}

function show(item) {
  recent.unshift(item);
  recent.splice(10);
  render();
  beep(item.open ? "ok" : "error");
}

function render() {
  const last = recent[0];
  const box = $("#verdict");
  if (!last) {
    box.dataset.state = "waiting";
    $("#verdict-title").textContent = t("gate.waiting");
    $("#verdict-detail").textContent = "";
  } else {
    box.dataset.state = last.open ? (last.audit ? "audit" : "open") : "refused";
    const [title, detail] = verdictText(last);
    $("#verdict-title").textContent = title;
    $("#verdict-detail").textContent = detail;
  }
  fill(
    $("#recent"),
    recent.map((item) => {
      const [title, detail] = verdictText(item);
      return h("li", {}, h("span", { class: item.open ? "open" : "refused", text: title }), " · ", detail, " · ", clock(item.at));
    }),
  );
}

async function check(e) {
  e.preventDefault();
  const text = $("#pass").value.trim();
  if (!text) return;
  $("#pass").value = "";
  try {
    await api("/api/gate/verify", { method: "POST", body: { text } });
  } catch (err) {
    if (!(err instanceof ApiError) || !err.code.startsWith("pass_")) {
      show({ open: false, reason: "malformed", at: new Date().toISOString() });
    }
  }
  // the verdict itself arrives on the live stream, as for a pass the gate camera reads
}

function toToken(message = "") {
  localStorage.removeItem(TOKEN_KEY);
  setBearer(null);
  if (stream) stream.close();
  stream = null;
  screen("token");
  const box = $("#token-error");
  box.textContent = message;
  box.hidden = !message;
}

async function start(token) {
  setBearer(token);
  const me = await api("/api/auth/me");
  if (me.kind === "device" && me.role !== "gate") throw new ApiError(403, "wrong_device_role", "");
  localStorage.setItem(TOKEN_KEY, token);
  fill($("#who"), me.id);
  screen("gate");
  render();
  stream = new LiveStream("/api/gate/events", {
    onEvent: (type, data) => type === "pass" && show(data),
    onAuthError: () => toToken(t("gate.token.wrong")),
  });
}

async function boot() {
  await initI18n();
  const store = await loadStore();
  fill($("#store-name"), store.name);
  bindLangSelect($("#lang"));
  onLangChange(() => {
    refreshBanner();
    render();
  });
  $("#pass-form").addEventListener("submit", check);
  $("#token-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await start($("#token").value.trim());
      $("#token").value = "";
    } catch (err) {
      toToken(err instanceof ApiError && [401, 403].includes(err.status) ? t("gate.token.wrong") : err.message);
    }
  });
  const saved = localStorage.getItem(TOKEN_KEY);
  if (!saved) return toToken();
  try {
    await start(saved);
  } catch (err) {
    toToken(err instanceof ApiError && err.status === 401 ? t("gate.token.wrong") : "");
  }
}

boot();
