// Staff handheld: one live queue of fitting-room calls and staff tasks (ID checks, help, exit
// rescans; tasks.js), each with its waiting time and escalation; claim and answer.
import { api, ApiError, setBearer } from "/ui/common/api.js";
import { $, fill, h, screen } from "/ui/common/dom.js";
import { duration, loadStore, money, secondsSince } from "/ui/common/format.js";
import { bindLangSelect, initI18n, onLangChange, t } from "/ui/common/i18n.js";
import { beep } from "/ui/common/sound.js";
import { LiveStream, refreshBanner } from "/ui/common/sse.js";
import { bindMyCode, showMyCodeButton } from "/ui/guide/mycode.js";
import { clearTasks, leadsFloor, loadTasks, stopRescan, taskItems, upsertTask } from "/ui/guide/tasks.js";

const TOKEN_KEY = "re_guide_token";
const ACTIVE = new Set(["open", "escalated", "claimed"]);
const calls = new Map();
let me = null;
let stream = null;
let taskStream = null;
let primed = false; // the first replay of open calls does not ring

/** The item a "bring" call names: its product name when the call carries it, else its code. */
export function itemName(c) {
  const item = c.item || {};
  const name = item.name ? [item.name, item.size, item.colour].filter(Boolean).join(" · ") : "";
  return name || c.gtin || "";
}

function describe(c) {
  if (c.kind === "variant") {
    const want = c.want ? c.want.name || [c.want.size, c.want.colour].filter(Boolean).join(" · ") : c.want_gtin || "";
    return t("guide.kind.variant", { want });
  }
  if (c.kind === "bring") return t("guide.kind.bring", { item: itemName(c) });
  return t("guide.kind.help");
}

function stateText(c) {
  if (c.state === "claimed") return c.guide_id === me.id ? t("guide.state.mine") : t("guide.state.claimed", { guide: c.guide_id || "" });
  return t(`guide.state.${c.state}`);
}

function render() {
  const list = [...calls.values()].filter((c) => ACTIVE.has(c.state));
  const items = [...list.map((c) => ({ at: c.opened_at, el: callItem(c) })), ...taskItems(me, actTask, render)];
  items.sort((a, b) => (a.at < b.at ? -1 : 1));
  $("#no-calls").hidden = items.length > 0;
  fill($("#calls"), items.map((item) => item.el));
}

function callItem(c) {
  const mine = c.state === "claimed" && (c.guide_id === me.id || leadsFloor(me)); // a supervisor may take over
  return h(
    "li",
    { class: "call", dataset: { state: c.state, call: c.id } },
    h("h2", {}, c.room_name || c.room_id, " · ", describe(c)),
    h("div", { class: "buttons" },
      c.state === "open" || c.state === "escalated"
        ? h("button", { type: "button", text: t("guide.claim"), on: { click: () => act(c.id, "claim") } })
        : null,
      mine ? h("button", { type: "button", class: "secondary", text: t("guide.resolve"), on: { click: () => act(c.id, "resolve") } }) : null,
    ),
    h("p", { class: "muted" },
      h("span", { class: "state", text: stateText(c) }), " · ",
      h("span", { text: t("guide.waiting") }), " ",
      h("span", { class: "timer", dataset: { since: c.opened_at }, text: duration(secondsSince(c.opened_at)) }),
      c.state === "escalated" ? h("strong", { text: ` · ${t("guide.escalated")}` }) : null,
    ),
    c.note ? h("p", { class: "scanned note", text: c.note }) : null,
  );
}

function upsert(c) {
  const old = calls.get(c.id);
  if (old && old.version > c.version) return;
  const isNew = !old && ACTIVE.has(c.state) && c.state !== "claimed";
  calls.set(c.id, c);
  if (isNew && primed && $("#sound").checked) beep("alert");
  render();
}

function newTask(task) {
  if (upsertTask(task) && primed && $("#sound").checked) beep("alert");
  render();
}

async function actTask(task, action, body) {
  // what the box would refuse is said at once, without a request
  if (["refused", "waved"].includes(body.outcome) && !body.reason) return showError({ code: "reason_required", message: "" });
  if (body.outcome === "mismatch" && !body.missing.length) return showError({ code: "missing_items_required", message: "" });
  try {
    const answer = await api(`/api/staff/tasks/${encodeURIComponent(task.id)}/${action}`, { method: "POST", body });
    newTask(answer);
    $("#guide-error").hidden = true;
    if (answer.corrective) {
      const fix = answer.corrective;
      const box = $("#guide-info");
      box.textContent = t("guide.task.corrective", { items: fix.lines.length, total: money(fix.total_minor, fix.currency), cart: fix.session_id });
      box.hidden = false;
    }
  } catch (err) {
    showError(err);
    loadTasks().then(render, () => null);
  }
}

function showError(err) {
  const box = $("#guide-error");
  const key = `kiosk.err.${err.code}`;
  box.textContent = t(key) !== key ? t(key) : t("common.error", { msg: err.message });
  box.hidden = false;
}

async function act(id, action) {
  try {
    upsert(await api(`/api/fitting/calls/${encodeURIComponent(id)}/${action}`, { method: "POST", body: {} }));
    $("#guide-error").hidden = true;
  } catch (err) {
    const box = $("#guide-error");
    const key = `fit.err.${err.code}`;
    box.textContent = t(key) !== key ? t(key) : err instanceof ApiError && err.status === 409 ? t("guide.taken") : t("common.error", { msg: err.message });
    box.hidden = false;
    load().catch(() => null);
  }
}

async function load() {
  for (const c of await api("/api/fitting/calls")) upsert(c);
}

function signOut(message = "") {
  localStorage.removeItem(TOKEN_KEY);
  setBearer(null);
  if (stream) stream.close();
  stream = null;
  if (taskStream) taskStream.close();
  taskStream = null;
  calls.clear();
  stopRescan();
  clearTasks();
  $("#signout").hidden = true;
  showMyCodeButton(false);
  fill($("#who"));
  screen("token");
  const box = $("#token-error");
  box.textContent = message;
  box.hidden = !message;
}

async function start(token) {
  setBearer(token);
  me = await api("/api/auth/me");
  if (!me.handheld) throw new ApiError(403, "wrong_device_role", ""); // the server's rule (/api/auth/me)
  localStorage.setItem(TOKEN_KEY, token);
  fill($("#who"), me.id);
  $("#signout").hidden = false;
  showMyCodeButton(true);
  screen("calls");
  await Promise.all([load(), loadTasks()]);
  render();
  primed = true;
  stream = new LiveStream("/api/fitting/events", {
    onEvent: (type, data) => type === "call" && upsert(data),
    onAuthError: () => signOut(t("guide.token.revoked")),
  });
  taskStream = new LiveStream("/api/staff/events", {
    onEvent: (type, data) => {
      if (type === "tasks") data.forEach((task) => upsertTask(task));
      if (type === "task") return newTask(data);
      render();
    },
    onAuthError: () => signOut(t("guide.token.revoked")),
  });
}

async function submitToken(e) {
  e.preventDefault();
  const token = $("#token").value.trim();
  if (!token) return;
  try {
    await start(token);
    $("#token").value = "";
  } catch (err) {
    signOut(err instanceof ApiError && (err.status === 401 || err.status === 403) ? t("guide.token.wrong") : t("common.error", { msg: err.message }));
  }
}

async function boot() {
  await initI18n();
  await loadStore();
  bindLangSelect($("#lang"));
  onLangChange(() => {
    refreshBanner();
    if (me) render();
  });
  $("#sound").checked = localStorage.getItem("re_guide_sound") === "1";
  $("#sound").addEventListener("change", () => {
    localStorage.setItem("re_guide_sound", $("#sound").checked ? "1" : "0");
    if ($("#sound").checked) beep("ok");
  });
  $("#token-form").addEventListener("submit", submitToken);
  $("#signout").addEventListener("click", () => signOut());
  bindMyCode(showError);
  $("#rescan-close").addEventListener("click", () => stopRescan());
  setInterval(() => {
    for (const el of document.querySelectorAll(".timer")) el.textContent = duration(secondsSince(el.dataset.since));
  }, 1000);
  const saved = localStorage.getItem(TOKEN_KEY);
  if (!saved) return signOut();
  try {
    await start(saved);
  } catch (err) {
    signOut(err instanceof ApiError && err.status === 401 ? t("guide.token.revoked") : "");
  }
}

boot();
