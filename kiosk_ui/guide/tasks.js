// Staff tasks in the handheld's queue (edge/checkout/tasks.py): ID checks, "call staff", exit rescans.
// Fitting-room calls stay in main.js; both are rendered into one list, oldest first.
import { api } from "/ui/common/api.js";
import { h } from "/ui/common/dom.js";
import { duration, secondsSince } from "/ui/common/format.js";
import { t } from "/ui/common/i18n.js";

const tasks = new Map();

/** Merge a task (from the list, the SSE stream or an answer); true when it is new and open. */
export function upsertTask(task) {
  const old = tasks.get(task.id);
  if (old && old.version > task.version) return false;
  tasks.set(task.id, task);
  return !old && task.state === "open";
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
  return t("guide.task.kiosk_help");
}

function details(task) {
  if (task.kind !== "exit_audit") return null;
  const reasons = (task.detail.reasons || []).map((r) => t(`guide.reason.${r}`)).join(", ");
  return [
    h("p", { class: "muted", text: t("guide.task.why", { reasons }) }),
    h("ul", { class: "rescan" }, (task.detail.items || []).map((it) => h("li", {}, h("strong", { text: `${it.qty} × ` }), it.name))),
  ];
}

function answers(task, me, act) {
  const reason = h("input", { class: "reason", "aria-label": t("guide.task.reason"), placeholder: t("guide.task.reason"), maxlength: "200" });
  const missing = h("input", { class: "reason", "aria-label": t("guide.task.missing"), placeholder: t("guide.task.missing"), inputmode: "numeric" });
  const send = (outcome) => {
    const body = { outcome, reason: reason.value.trim() };
    if (outcome === "mismatch") {
      body.missing = missing.value.split(/[\s,]+/).filter(Boolean).map((gtin) => ({ gtin, qty: 1 }));
    }
    act(task, "resolve", body);
  };
  const button = (key, outcome, cls = "") => h("button", { type: "button", class: cls, text: t(key), on: { click: () => send(outcome) } });
  if (task.state === "open") {
    return [h("button", { type: "button", text: t("guide.claim"), on: { click: () => act(task, "claim", {}) } })];
  }
  if (task.claimed_by !== `${me.kind}:${me.id}`) return [];
  if (task.kind === "id_check") return [button("guide.task.approve", "approved"), reason, button("guide.task.refuse", "refused", "secondary")];
  if (task.kind === "exit_audit") {
    return [button("guide.task.match", "match"), missing, button("guide.task.mismatch", "mismatch", "secondary"), reason, button("guide.task.wave", "waved", "secondary")];
  }
  return [button("guide.resolve", "helped")];
}

/** The open and claimed tasks as list items: [{at, el}] for main.js to merge with the calls. */
export function taskItems(me, act) {
  return [...tasks.values()]
    .filter((task) => task.state !== "done")
    .map((task) => ({
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
