// Devices, users and models: the lists, and the staff actions on them. A new device's token is
// shown once, as text and as a QR code (rendered on the box, POSTed so it never sits in a URL);
// revoking a device and disabling a user each ask for a reason and a confirm.
import { api } from "/ui/common/api.js";
import { $, fill, h } from "/ui/common/dom.js";
import { clock } from "/ui/common/format.js";
import { t } from "/ui/common/i18n.js";
import { Panel } from "./base.js";
import { badge, modelCell } from "./panels.js";
import { buttons, confirmWithReason, dialog, errorText, notify, showError, unauthorized } from "./staff.js";

const ROLE = { kiosk: "dash.role.kiosk", guide: "dash.role.guide", gate: "dash.role.gate", manager: "dash.role.manager", it: "dash.role.it" };

function role(r) {
  return ROLE[r] ? t(ROLE[r]) : r;
}

export class Devices extends Panel {
  constructor() {
    super(15000);
    this.wired = false;
    this.drawn = {};
    this.me = null;
  }

  show() {
    if (!this.wired) {
      this.wired = true;
      $("#dev-add").addEventListener("submit", (e) => this.addDevice(e));
      $("#user-add").addEventListener("submit", (e) => this.addUser(e));
    }
    this.drawn = {}; // the language may have changed: draw again
    super.show();
  }

  async refresh() {
    const [devices, users, models, me] = await Promise.all([
      api("/api/admin/devices"),
      api("/api/admin/users"),
      api("/api/admin/models"),
      this.me ? Promise.resolve(this.me) : api("/api/auth/me"),
    ]);
    this.me = me;
    this.draw("devices", devices, () => this.drawDevices(devices));
    this.draw("users", users, () => this.drawUsers(users));
    this.draw("models", models, () => this.drawModels(models));
  }

  /** Redraw a table only when its data changed, so keyboard focus stays where it was. */
  draw(name, data, fn) {
    const key = JSON.stringify(data);
    if (this.drawn[name] === key) return;
    this.drawn[name] = key;
    fn();
  }

  drawDevices(devices) {
    fill(
      $("#device-rows"),
      devices.map((d) =>
        h(
          "tr",
          { dataset: { device: d.id } },
          h("td", { class: "scanned", text: d.id }),
          h("td", { text: role(d.role) }),
          h("td", { class: "scanned", text: d.name || "" }),
          h("td", {}, badge(d.revoked ? "down" : "ok"), " ", d.revoked ? t("dash.devices.revoked") : t("dash.devices.active")),
          h("td", { text: d.last_seen_at ? clock(d.last_seen_at, true) : "—" }),
          h(
            "td",
            { class: "actions" },
            d.revoked
              ? null
              : h("button", { type: "button", class: "danger", text: t("dash.admin.revoke"), "aria-label": t("dash.admin.revoke_aria", { id: d.id }), on: { click: () => this.revoke(d) } }),
          ),
        ),
      ),
    );
  }

  drawUsers(users) {
    fill(
      $("#user-rows"),
      users.map((u) => {
        const self = this.me && this.me.kind === "user" && this.me.id === u.username;
        return h(
          "tr",
          { dataset: { user: u.username } },
          h("td", { class: "scanned", text: u.username }),
          h("td", { text: role(u.role) }),
          h("td", { text: u.disabled ? t("dash.devices.disabled") : t("dash.devices.active") }),
          h(
            "td",
            { class: "actions" },
            u.disabled
              ? null
              : self
                ? h("span", { class: "muted", text: t("dash.admin.you") })
                : h("button", { type: "button", class: "danger", text: t("dash.admin.disable"), "aria-label": t("dash.admin.disable_aria", { user: u.username }), on: { click: () => this.disable(u) } }),
          ),
        );
      }),
    );
  }

  drawModels(models) {
    fill(
      $("#model-rows"),
      models.models.length
        ? models.models.map((m) =>
            h("tr", { dataset: { model: m.name, status: m.status } }, h("td", { text: m.name }), h("td", { text: m.version || "" }), h("td", { class: "scanned", text: m.sha256 || "" }), modelCell(m)),
          )
        : h("tr", {}, h("td", { colspan: 4, class: "muted", text: models.reason || t("dash.models.none") })),
    );
  }

  async addDevice(e) {
    e.preventDefault();
    const form = e.target;
    const box = $("#dev-add-error");
    box.hidden = true;
    const body = { id: $("#dev-id").value.trim(), role: $("#dev-role").value, name: $("#dev-name").value.trim(), reason: $("#dev-reason").value.trim() };
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(body.id)) return showError(box, t("dash.err.bad_device_id"));
    if (!body.reason) return showError(box, t("dash.act.reason_needed"));
    await this.submit(form, box, async () => {
      const out = await api("/api/admin/devices", { method: "POST", body });
      form.reset();
      await showToken(out);
      notify($("#admin-notice"), t("dash.admin.device_added", { id: out.device.id, role: role(out.device.role) }));
    });
  }

  async addUser(e) {
    e.preventDefault();
    const form = e.target;
    const box = $("#user-add-error");
    box.hidden = true;
    const body = { username: $("#user-name").value.trim(), password: $("#user-password").value, role: $("#user-role").value, reason: $("#user-reason").value.trim() };
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(body.username)) return showError(box, t("dash.err.bad_username"));
    if (body.password.length < 10) return showError(box, t("dash.err.weak_password"));
    if (!body.reason) return showError(box, t("dash.act.reason_needed"));
    await this.submit(form, box, async () => {
      const out = await api("/api/admin/users", { method: "POST", body });
      form.reset();
      notify($("#admin-notice"), t("dash.admin.user_added", { user: out.username }));
    });
  }

  /** Run a form's request with its button disabled; a refusal is shown in the form's box. */
  async submit(form, box, fn) {
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await fn();
      this.drawn = {};
      await this.tick();
    } catch (err) {
      if (!unauthorized(err)) showError(box, errorText(err));
    } finally {
      button.disabled = false;
    }
  }

  async revoke(d) {
    const out = await confirmWithReason({
      title: t("dash.admin.revoke_title", { id: d.id }),
      text: t("dash.admin.revoke_confirm", { id: d.id, role: role(d.role) }),
      confirmLabel: t("dash.admin.revoke_now"),
      action: (reason) => api(`/api/admin/devices/${encodeURIComponent(d.id)}`, { method: "DELETE", body: { reason } }),
    });
    if (!out) return;
    notify($("#admin-notice"), t("dash.admin.revoked", { id: d.id }));
    await this.tick();
  }

  async disable(u) {
    const out = await confirmWithReason({
      title: t("dash.admin.disable_title", { user: u.username }),
      text: t("dash.admin.disable_confirm", { user: u.username }),
      confirmLabel: t("dash.admin.disable_now"),
      action: (reason) => api(`/api/admin/users/${encodeURIComponent(u.username)}/disable`, { method: "POST", body: { reason } }),
    });
    if (!out) return;
    notify($("#admin-notice"), t("dash.admin.disabled", { user: u.username }));
    await this.tick();
  }
}

/** The token, once: text and QR in a dialog; closing it drops both from the page for good. */
async function showToken(out) {
  const res = await fetch("/api/ui/qr.svg", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "image/svg+xml" },
    body: JSON.stringify({ text: out.token }),
    credentials: "same-origin",
    cache: "no-store",
  }).catch(() => null);
  const url = res && res.ok ? URL.createObjectURL(await res.blob()) : null;
  const id = out.device.id;
  const done = h("button", { type: "button", text: t("dash.admin.token_done") });
  const d = dialog(
    t("dash.admin.token_title", { id }),
    h("p", { class: "warn-box", role: "alert", text: t("dash.admin.token_once") }),
    h("p", { class: "muted", text: t("dash.admin.token_how", { role: role(out.device.role) }) }),
    h("p", {}, h("code", { class: "token mono", id: "device-token", text: out.token })),
    url ? h("img", { class: "token-qr", src: url, alt: t("dash.admin.token_qr", { id }) }) : h("p", { class: "error-box", text: t("dash.admin.token_no_qr") }),
    out.device.role === "kiosk" ? null : h("p", { class: "muted", text: t("dash.admin.token_broker") }),
    buttons(done),
  );
  d.classList.add("token-dialog");
  done.focus();
  await new Promise((resolve) => {
    done.addEventListener("click", () => d.close());
    d.addEventListener("close", resolve, { once: true });
  });
  if (url) URL.revokeObjectURL(url);
}
