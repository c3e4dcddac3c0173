// Cloud sync: upload backlog and errors, down-sync freshness, and the quarantine (events the
// cloud refused for good) with Requeue and Discard. Everything shown is text from the daemon.
import { api, ApiError } from "/ui/common/api.js";
import { $, fill, h } from "/ui/common/dom.js";
import { clock, duration, number } from "/ui/common/format.js";
import { t } from "/ui/common/i18n.js";
import { Panel } from "./base.js";
import { badge } from "./panels.js";

const PAGE = 50;
const DEFAULT_STALE_AFTER_S = 86400; // edge/sync/settings.py's default, until the config is read

function age(seconds) {
  return seconds == null ? "—" : duration(seconds);
}

function when(ts) {
  return ts ? clock(ts, true) : "—";
}

function pair(key, ...value) {
  return [h("dt", { text: t(key) }), h("dd", {}, ...value)];
}

/** The message for a typed error: the catalog's entry for its code, else the daemon's sentence. */
function errorText(err) {
  if (err instanceof ApiError) {
    const key = `dash.sync.err.${err.code}`;
    const text = t(key);
    if (text !== key) return text;
  }
  return t("common.error", { msg: err.message || String(err) });
}

export class SyncPanel extends Panel {
  constructor() {
    super(3000);
    this.wired = false;
    this.staleAfter = null;
    this.quarantineKey = null; // re-render the list only when it changed, so keyboard focus stays put
    this.busy = false;
  }

  show() {
    if (!this.wired) {
      this.wired = true;
      $("#sync-poll").addEventListener("click", () => this.poll());
    }
    this.quarantineKey = null; // language may have changed: draw again
    super.show();
  }

  async refresh() {
    if (this.staleAfter === null) this.staleAfter = await this.readStaleAfter();
    const [status, page] = await Promise.all([api("/api/sync/status"), api(`/api/sync/quarantine?limit=${PAGE}`)]);
    $("#sync-error").hidden = true;
    this.renderUpload(status);
    this.renderDown(status);
    this.renderQuarantine(page);
  }

  failed(err) {
    super.failed(err);
    if (err instanceof ApiError && err.code === "offline") return; // the banner says so
    const box = $("#sync-error");
    box.textContent = errorText(err);
    box.hidden = false;
  }

  /** The staleness threshold /readyz uses (read-only config); the default if it cannot be read. */
  async readStaleAfter() {
    try {
      const cfg = await api("/api/admin/config");
      const v = cfg && cfg.sync && Number(cfg.sync.downsync_stale_after_s);
      return v > 0 ? v : DEFAULT_STALE_AFTER_S;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) throw err;
      return DEFAULT_STALE_AFTER_S;
    }
  }

  renderUpload(s) {
    const state = $("#sync-state");
    fill($("#sync-reason"), s.reason || "");
    state.className = `badge ${s.state === "ok" ? "ok" : "degraded"}`;
    state.textContent = t(`status.${s.state}`) === `status.${s.state}` ? s.state : t(`status.${s.state}`);
    state.dataset.state = s.state;
    fill(
      $("#sync-upload"),
      pair("dash.sync.cloud", s.cloud_url ? h("span", { class: "scanned", text: s.cloud_url }) : h("span", { class: "muted", text: t("dash.sync.no_url") })),
      pair("dash.sync.backlog", h("span", { dataset: { value: s.backlog }, id: "sync-backlog", text: t(s.backlog === 1 ? "dash.sync.one_event" : "dash.sync.events", { n: number(s.backlog, 0) }) })),
      pair("dash.sync.oldest", age(s.oldest_unsent_age_s)),
      pair("dash.sync.last_success", when(s.last_success_at)),
      pair(
        "dash.sync.last_error",
        s.last_error ? [h("span", { class: "scanned", text: s.last_error }), h("span", { class: "muted", text: ` · ${when(s.last_error_at)}` })] : h("span", { class: "muted", text: t("dash.sync.none") }),
      ),
      pair("dash.sync.next_attempt", s.next_attempt_in_s == null ? "—" : t("dash.sync.in_s", { s: number(s.next_attempt_in_s, 0) })),
      pair("dash.sync.totals", t("dash.sync.totals_line", { sent: number(s.sent_total, 0), errors: number(s.send_errors_total, 0), quarantined: number(s.quarantined, 0) })),
    );
    fill(
      $("#sync-streams"),
      s.streams.length
        ? s.streams.map((b) =>
            h("tr", { dataset: { stream: b.stream } }, h("th", { scope: "row", class: "scanned", text: b.stream }), h("td", { text: number(b.unsent, 0) }), h("td", { text: when(b.oldest_unsent_at) })),
          )
        : h("tr", {}, h("td", { colspan: 3, class: "muted", text: t("dash.sync.all_sent") })),
    );
  }

  renderDown(s) {
    const d = s.downsync || {};
    const el = $("#sync-down-state");
    const on = Object.keys(d).length > 0;
    $("#sync-poll").hidden = !on;
    if (!on) {
      el.className = "badge info";
      el.textContent = t("dash.sync.down_off");
      el.dataset.state = "off";
      fill($("#sync-down"), pair("dash.sync.downsync", h("span", { class: "muted", text: t("dash.sync.down_off_note") })));
      return;
    }
    // failing: the last check did not get through (the data may still be recent); stale: too old
    const state = d.last_error ? "failing" : d.staleness_s == null || d.staleness_s > this.staleAfter ? "stale" : "fresh";
    el.className = `badge ${state === "fresh" ? "ok" : "degraded"}`;
    el.textContent = { failing: t("dash.sync.failing"), stale: d.staleness_s == null ? t("dash.sync.never") : t("dash.sync.stale"), fresh: t("dash.sync.fresh") }[state];
    el.dataset.state = state;
    const applied = d.applied || {};
    const version = (kind) => {
      const a = applied[kind];
      return a ? [t("dash.sync.version_line", { v: a.version, n: number(a.items, 0) }), h("span", { class: "muted", text: ` · ${when(a.applied_at)}` })] : h("span", { class: "muted", text: "—" });
    };
    const refused = d.last_refused;
    fill(
      $("#sync-down"),
      pair("dash.sync.staleness", h("span", { id: "sync-staleness", text: d.staleness_s == null ? t("dash.sync.never") : t("dash.sync.ago", { age: duration(d.staleness_s) }) })),
      pair("dash.sync.last_pull", when(d.last_ok_at)),
      pair("dash.sync.catalog", version("catalog")),
      pair("dash.sync.prices", version("prices")),
      pair("dash.sync.promotions", version("promotions")),
      pair("dash.sync.erasures", version("member_erasure")),
      pair("dash.sync.cursor", String(d.cursor ?? 0)),
      d.last_error ? pair("dash.sync.last_error", h("span", { class: "scanned", text: d.last_error })) : null,
      refused
        ? pair("dash.sync.refused", h("span", { class: "scanned", text: t("dash.sync.refused_line", { v: refused.version, kind: refused.kind, reason: refused.reason }) }), h("span", { class: "muted", text: ` · ${when(refused.at)}` }))
        : null,
    );
  }

  renderQuarantine(page) {
    const key = JSON.stringify([page.total, page.items.map((q) => [q.event_id, q.quarantined_at])]);
    if (key === this.quarantineKey) return;
    this.quarantineKey = key;
    const rows = $("#sync-q-rows");
    const focusedId = rows.contains(document.activeElement) ? document.activeElement.dataset.focusKey : null;
    fill(
      rows,
      page.items.length
        ? page.items.map((q) =>
            h(
              "tr",
              { dataset: { event: q.event_id, kind: q.kind } },
              h("td", { text: when(q.quarantined_at) }),
              h("td", { class: "scanned mono", text: q.event_id }),
              h("td", { class: "scanned", text: q.stream }),
              h("td", { class: "scanned nowrap", text: q.kind }),
              h("td", { text: q.http_status ? String(q.http_status) : "—" }),
              h("td", { class: "scanned nowrap", text: q.code || "—" }),
              h("td", { class: "scanned", text: q.reason || "—" }),
              h(
                "td",
                { class: "actions" },
                h("button", {
                  type: "button",
                  class: "secondary",
                  text: t("dash.sync.requeue"),
                  "aria-label": t("dash.sync.requeue_aria", { id: q.event_id, kind: q.kind }),
                  dataset: { focusKey: `requeue:${q.event_id}` },
                  on: { click: () => this.requeue(q) },
                }),
                " ",
                h("button", {
                  type: "button",
                  class: "danger",
                  text: t("dash.sync.discard"),
                  "aria-label": t("dash.sync.discard_aria", { id: q.event_id, kind: q.kind }),
                  dataset: { focusKey: `discard:${q.event_id}` },
                  on: { click: () => this.discard(q) },
                }),
              ),
            ),
          )
        : h("tr", {}, h("td", { colspan: 8, class: "muted", text: t("dash.sync.q_empty") })),
    );
    if (focusedId) {
      const again = rows.querySelector(`[data-focus-key="${CSS.escape(focusedId)}"]`);
      if (again) again.focus();
    }
    const more = $("#sync-q-more");
    more.hidden = page.total <= page.items.length;
    more.textContent = t("dash.sync.q_more", { shown: page.items.length, total: page.total });
  }

  /** Ask the daemon to poll the cloud's change feed now; the next refresh shows the outcome. */
  async poll() {
    const btn = $("#sync-poll");
    btn.disabled = true;
    try {
      await api("/api/sync/downsync/poll", { method: "POST" });
      this.notice(t("dash.sync.polling", { time: clock(new Date().toISOString()) }));
      setTimeout(() => this.tick(), 1000);
    } catch (err) {
      this.actionFailed(err);
    } finally {
      btn.disabled = false;
    }
  }

  async requeue(q) {
    await this.act(q, "requeue", t("dash.sync.requeued", { id: q.event_id }));
  }

  async discard(q) {
    const dialog = $("#sync-confirm");
    fill($("#sync-confirm-text"), t("dash.sync.confirm_text", { id: q.event_id, kind: q.kind, stream: q.stream }));
    const answer = await new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true });
      dialog.returnValue = "cancel";
      dialog.showModal();
    });
    if (answer !== "discard") return;
    await this.act(q, "discard", t("dash.sync.discarded", { id: q.event_id }));
  }

  async act(q, verb, done) {
    if (this.busy) return;
    this.busy = true;
    for (const b of $("#sync-q-rows").querySelectorAll("button")) b.disabled = true;
    try {
      await api(`/api/sync/quarantine/${encodeURIComponent(q.event_id)}/${verb}`, { method: "POST" });
      this.notice(done);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        window.dispatchEvent(new Event("re:unauthorized"));
        return;
      }
      this.actionFailed(err);
    } finally {
      this.busy = false;
      this.quarantineKey = null;
      await this.tick();
    }
  }

  notice(text) {
    $("#sync-action-error").hidden = true;
    const box = $("#sync-notice");
    box.textContent = text;
    box.hidden = false;
    box.focus(); // the row and its buttons are gone: keep keyboard users on what happened
  }

  actionFailed(err) {
    $("#sync-notice").hidden = true;
    const box = $("#sync-action-error");
    box.textContent = errorText(err);
    box.hidden = false;
    box.focus();
  }
}
