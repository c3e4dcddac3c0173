// Staff tasks in the handheld's queue (edge/checkout/tasks.py): ID checks, "call staff", exit
// rescans, and packs to take off sale (expired or recalled, refused at a till).
// Fitting-room calls stay in main.js; both are rendered into one list, oldest first.
import { api } from "/ui/common/api.js";
import { day } from "/ui/common/cartwords.js";
import { h } from "/ui/common/dom.js";
import { duration, secondsSince } from "/ui/common/format.js";
import { t } from "/ui/common/i18n.js";
import { beep } from "/ui/common/sound.js";
import { closeCamera, openCamera } from "/ui/guide/camera.js";

const tasks = new Map();
// What staff typed or scanned for a task, kept across re-renders (the list is redrawn on every change).
const drafts = new Map(); // task id -> {reason, missing, found: Set of paid GTINs seen}
let scanning = null; // the task whose rescan the camera is reading
let redraw = () => {};

/** A supervisor's or manager's handheld (or store IT) may answer what a colleague claimed and left:
 * the server says so in /api/auth/me (edge.platform.identity.Principal.leads_floor). */
export function leadsFloor(me) {
  return me.leads_floor === true;
}

function draft(id) {
  if (!drafts.has(id)) drafts.set(id, { reason: "", missing: "", found: new Set() });
  return drafts.get(id);
}

/** A code the camera confirmed in a rescan: a paid item is ticked, anything else goes on the missing list. */
function rescanned(task, code) {
  const d = draft(task.id);
  const gtin = code.gtin || code.text;
  const item = (task.detail.items || []).find((it) => it.gtin === gtin);
  if (item) d.found.add(gtin);
  else if (!d.missing.split(/[\s,]+/).includes(gtin)) d.missing = [d.missing, gtin].filter(Boolean).join(" ");
  const status = document.getElementById("rescan-status");
  status.textContent = item ? t("guide.camera.paid", { name: item.name }) : t("guide.camera.unpaid", { code: gtin });
  if (document.getElementById("sound").checked) beep(item ? "ok" : "alert");
  redraw();
}

function startRescan(task) {
  const panel = document.getElementById("rescan-cam");
  const video = document.getElementById("rescan-video");
  scanning = task.id;
  panel.hidden = false;
  document.getElementById("rescan-status").textContent = t("guide.camera.hint");
  const failed = (err) => {
    document.getElementById("rescan-status").textContent = t("guide.camera.failed", { msg: err.message || err.name });
  };
  openCamera(video, { onCode: (code) => rescanned(tasks.get(task.id) || task, code), onError: failed }).catch((err) => {
    failed(err);
  });
}

/** Close the camera panel (its button, or the task it reads for was answered). */
export function stopRescan() {
  scanning = null;
  closeCamera(document.getElementById("rescan-video"));
  document.getElementById("rescan-cam").hidden = true;
}

/** Merge a task (from the list, the SSE stream or an answer); true when it is new and open, or
 * when another refused pack joined a pull task still to be answered (the handheld beeps again). */
export function upsertTask(task) {
  const old = tasks.get(task.id);
  if (old && old.version > task.version) return false;
  tasks.set(task.id, task);
  if (!old) return task.state === "open";
  return task.state !== "done" && packs(task).length > packs(old).length;
}

export async function loadTasks() {
  for (const task of await api("/api/staff/tasks")) upsertTask(task);
}

export function clearTasks() {
  tasks.clear();
}

function place(task) {
  if (task.place.startsWith("phone-")) return t("guide.task.place_phone");
  return task.place;
}

function title(task) {
  if (task.kind === "id_check") return t("guide.task.id_check", { item: task.detail.name || task.detail.gtin || "" });
  if (task.kind === "exit_audit") return t("guide.task.exit_audit");
  if (task.kind === "pack_pull") return t("guide.task.pack_pull", { items: packs(task).map((p) => p.name || p.gtin).join(", ") });
  return t("guide.task.kiosk_help");
}

function packs(task) {
  return Array.isArray(task.detail.packs) ? task.detail.packs : [];
}

/** Why a pack came off sale: its use-by date, or the recall and the recall's reason (the cloud's words). */
function packWhy(p) {
  const name = p.name || p.gtin || "";
  if (p.code === "item_expired") return t("guide.task.pack_expired", { name, date: day(p.expired_on) });
  return p.reason ? t("guide.task.pack_recalled", { name, reason: p.reason }) : t("guide.task.pack_recalled_plain", { name });
}

function details(task) {
  if (task.kind === "pack_pull") {
    return [h("ul", { class: "packs" }, packs(task).map((p) => h("li", { text: packWhy(p) }))), h("p", { class: "muted", text: t("guide.task.pack_pull_how") })];
  }
  if (task.kind !== "exit_audit") return null;
  const reasons = (task.detail.reasons || []).map((r) => t(`guide.reason.${r}`)).join(", ");
  const found = draft(task.id).found;
  const item = (it) => {
    const seen = found.has(it.gtin);
    return h("li", { class: seen ? "found" : "" }, seen ? "✓ " : "", h("strong", { text: `${it.qty} × ` }), it.name);
  };
  return [h("p", { class: "muted", text: t("guide.task.why", { reasons }) }), h("ul", { class: "rescan" }, (task.detail.items || []).map(item))];
}

function answers(task, me, act) {
  const d = draft(task.id);
  const field = (key, attrs) => {
    const el = h("input", { class: "reason", "aria-label": t(`guide.task.${key}`), placeholder: t(`guide.task.${key}`), ...attrs });
    el.value = d[key];
    el.addEventListener("input", () => (d[key] = el.value));
    return el;
  };
  const reason = field("reason", { maxlength: "200" });
  const missing = field("missing", { inputmode: "numeric" });
  const send = (outcome) => {
    const body = { outcome, reason: reason.value.trim() };
    if (task.kind === "pack_pull") body.version = task.version; // a pack that joined since is not taken unseen
    if (outcome === "mismatch") {
      body.missing = missing.value.split(/[\s,]+/).filter(Boolean).map((gtin) => ({ gtin, qty: 1 }));
    }
    act(task, "resolve", body);
  };
  const button = (key, outcome, cls = "") => h("button", { type: "button", class: cls, text: t(key), on: { click: () => send(outcome) } });
  if (task.state === "open") {
    return [h("button", { type: "button", text: t("guide.claim"), on: { click: () => act(task, "claim", {}) } })];
  }
  if (task.claimed_by !== `${me.kind}:${me.id}` && !leadsFloor(me)) return []; // a supervisor may take over
  if (task.kind === "id_check") return [button("guide.task.approve", "approved"), reason, button("guide.task.refuse", "refused", "secondary")];
  if (task.kind === "exit_audit") {
    const camera = h("button", { type: "button", class: "secondary", text: t("guide.camera.open"), on: { click: () => startRescan(task) } });
    return [camera, button("guide.task.match", "match"), missing, button("guide.task.mismatch", "mismatch", "secondary"), reason, button("guide.task.wave", "waved", "secondary")];
  }
  if (task.kind === "pack_pull") return [button("guide.task.taken", "taken")];
  return [button("guide.resolve", "helped")];
}

/** The open and claimed tasks as list items: [{at, el}] for main.js to merge with the calls;
 * `rerender` redraws the list (a camera read changes a task's draft). */
export function taskItems(me, act, rerender) {
  redraw = rerender;
  const live = [...tasks.values()].filter((task) => task.state !== "done");
  if (scanning && !live.some((task) => task.id === scanning)) stopRescan(); // answered: the camera closes
  for (const id of drafts.keys()) if (!tasks.has(id) || tasks.get(id).state === "done") drafts.delete(id);
  return live.map((task) => ({
      at: task.created_at,
      el: h(
        "li",
        { class: "call task", dataset: { state: task.escalated ? "escalated" : task.state, task: task.id, kind: task.kind } },
        h("h2", {}, place(task), " · ", title(task)),
        h("div", { class: "buttons" }, answers(task, me, act)),
        h("p", { class: "muted" },
          h("span", { class: "state", text: task.state === "claimed" ? t("guide.state.claimed", { guide: task.claimed_by.replace(/^\w+:/, "") }) : t("guide.state.open") }), " · ",
          h("span", { text: t("guide.waiting") }), " ",
          h("span", { class: "timer", dataset: { since: task.created_at }, text: duration(secondsSince(task.created_at)) }),
          task.escalated ? h("strong", { text: ` · ${t("guide.escalated")}` }) : null,
        ),
        details(task),
      ),
    }));
}
