// Overview (health from /readyz, alerts), the models' cell, and the read-only config (devices
// and users with their actions are in admin.js).
import { api } from "/ui/common/api.js";
import { $, fill, h } from "/ui/common/dom.js";
import { t } from "/ui/common/i18n.js";
import { Panel } from "./base.js";

export function badge(status) {
  const alias = { online: "ok", disabled: "info", escalated: "down", open: "warn", claimed: "ok" };
  const cls = alias[status] || (["ok", "degraded", "down", "stalled", "offline", "warn", "error"].includes(status) ? status : "info");
  return h("span", { class: `badge ${cls}`, text: t(`status.${status}`) === `status.${status}` ? status : t(`status.${status}`) });
}

export class Overview extends Panel {
  constructor() {
    super(5000);
  }

  async refresh() {
    // /readyz answers 503 with a full body when a required part is down: read it either way.
    const res = await fetch("/readyz", { cache: "no-store" }).catch(() => null);
    if (!res) throw Object.assign(new Error("offline"), { code: "offline" });
    const body = await res.json();
    const overall = $("#overall");
    overall.className = `badge ${body.status}`;
    overall.textContent = t(`status.${body.status}`);
    const rows = Object.entries(body.components || {}).sort(([a], [b]) => a.localeCompare(b));
    fill(
      $("#health-rows"),
      rows.map(([name, c]) =>
        h("tr", { dataset: { component: name } }, h("th", { scope: "row", text: name }), h("td", {}, badge(c.status)), h("td", { class: "scanned", text: c.reason || "" })),
      ),
    );
    const alerts = rows.filter(([, c]) => c.status !== "ok");
    fill(
      $("#alerts"),
      alerts.length
        ? alerts.map(([name, c]) => h("li", {}, badge(c.status), " ", h("strong", { text: name }), ": ", c.reason || ""))
        : h("li", { class: "muted", text: t("dash.overview.no_alerts") }),
    );
  }
}

/** A model's state: an optional model nobody selected is simply not installed, not a fault
 * (/readyz says ok without it), so it gets a neutral badge and no red. */
export function modelCell(m) {
  if (m.status !== "ok" && m.optional && !m.selected) {
    return h("td", {}, badge("optional"), " ", h("span", { class: "model-check", text: t("dash.models.check.optional") }));
  }
  return h("td", {}, badge(m.status === "ok" ? "ok" : "down"), " ", h("span", { class: "model-check", text: modelCheck(m.status) }), m.reason ? ` — ${m.reason}` : "");
}

/** The sha256 check in words: verified, missing or differing from the manifest. */
function modelCheck(status) {
  const key = `dash.models.check.${status}`;
  return t(key) === key ? status : t(key);
}

function tree(value) {
  if (value === null || value === undefined) return h("span", { class: "muted", text: "—" });
  if (Array.isArray(value)) {
    if (!value.length) return h("span", { class: "muted", text: "[]" });
    return h("ol", {}, value.map((v) => h("li", {}, tree(v))));
  }
  if (typeof value === "object") {
    return h("dl", {}, Object.entries(value).flatMap(([k, v]) => [h("dt", { text: k }), h("dd", {}, tree(v))]));
  }
  return h("span", { class: "scanned", text: String(value) });
}

export class Config extends Panel {
  async refresh() {
    fill($("#config-tree"), tree(await api("/api/admin/config")));
  }
}
