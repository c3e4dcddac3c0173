// Fitting-room board: open calls with live timers (SSE), guide response-time stats, and what
// guides and styles turn from try-ons into sales.
import { api } from "/ui/common/api.js";
import { $, fill, h } from "/ui/common/dom.js";
import { duration, money, number, secondsSince } from "/ui/common/format.js";
import { t } from "/ui/common/i18n.js";
import { LiveStream } from "/ui/common/sse.js";
import { Panel } from "./base.js";
import { badge } from "./panels.js";

const ACTIVE = new Set(["open", "escalated", "claimed"]);

export class FittingBoard extends Panel {
  constructor() {
    super(30000); // stats; calls come live
    this.calls = new Map();
    this.stream = null;
    this.clock = null;
  }

  show() {
    super.show();
    if (!this.stream) {
      this.stream = new LiveStream("/api/fitting/events", {
        onEvent: (type, c) => {
          if (type !== "call") return;
          const old = this.calls.get(c.id);
          if (!old || old.version <= c.version) this.calls.set(c.id, c);
          this.render();
        },
        onAuthError: () => window.dispatchEvent(new Event("re:unauthorized")),
      });
    }
    if (!this.clock) this.clock = setInterval(() => this.tickTimers(), 1000);
  }

  hide() {
    super.hide();
    if (this.stream) this.stream.close();
    this.stream = null;
    clearInterval(this.clock);
    this.clock = null;
  }

  async refresh() {
    const [stats, perf] = await Promise.all([api("/api/fitting/stats"), api("/api/fitting/performance")]);
    this.renderPerformance(perf);
    fill(
      $("#fitting-stats"),
      stats.length
        ? stats.flatMap((g) => [
            h("dt", { text: g.guide_id }),
            h("dd", {
              text: t("dash.fitting.stat_line", {
                claimed: g.claimed,
                resolved: g.resolved,
                claim: g.claim_p50_s == null ? "—" : number(g.claim_p50_s, 0),
                resolve: g.resolve_p50_s == null ? "—" : number(g.resolve_p50_s, 0),
              }),
            }),
          ])
        : [h("dt", { text: "—" }), h("dd", { class: "muted", text: t("dash.fitting.no_stats") })],
    );
  }

  // per guide and per style; a style tried often and seldom bought stands out
  renderPerformance(perf) {
    const pct = (v) => (v == null ? "—" : `${number(v * 100, 0)}%`);
    const none = (cols) => h("tr", {}, h("td", { colspan: cols, class: "muted", text: t("dash.perf.none") }));
    fill(
      $("#perf-guides"),
      perf.guides.length
        ? perf.guides.map((g) =>
            h("tr", { dataset: { guide: g.guide_id } },
              h("td", { text: g.guide_id }),
              h("td", { text: number(g.calls, 0) }),
              h("td", { text: g.claim_p50_s == null ? "—" : duration(g.claim_p50_s) }),
              h("td", { text: number(g.items_tried, 0) }),
              h("td", { text: number(g.items_bought, 0) }),
              h("td", { text: pct(g.conversion) }),
              h("td", { text: money(g.attributed_sales_minor) }),
            ),
          )
        : none(7),
    );
    fill(
      $("#perf-styles"),
      perf.styles.length
        ? perf.styles.map((st) =>
            h("tr", { class: st.low_conversion ? "warn" : "", dataset: { style: st.style, low: st.low_conversion ? "1" : "" } },
              h("td", {}, st.style, st.low_conversion ? h("span", { class: "badge warn", text: ` ${t("dash.perf.low")}` }) : null),
              h("td", { text: number(st.items_tried, 0) }),
              h("td", { text: number(st.items_bought, 0) }),
              h("td", { text: pct(st.conversion) }),
            ),
          )
        : none(4),
    );
  }

  render() {
    const open = [...this.calls.values()].filter((c) => ACTIVE.has(c.state)).sort((a, b) => (a.opened_at < b.opened_at ? -1 : 1));
    fill(
      $("#fitting-rows"),
      open.length
        ? open.map((c) =>
            h(
              "tr",
              { dataset: { call: c.id, state: c.state } },
              h("td", { text: c.room_name || c.room_id }),
              h("td", {}, t(`guide.kind.${c.kind}`, { want: c.want ? c.want.name || "" : c.want_gtin || "", item: c.item && c.item.name ? c.item.name : c.gtin || "" }), c.note ? h("div", { class: "scanned muted", text: c.note }) : null),
              h("td", {}, badge(c.state), " ", t(`dash.fitting.state.${c.state}`)),
              h("td", { text: c.guide_id || "—" }),
              h("td", { class: "timer", dataset: { since: c.opened_at }, text: duration(secondsSince(c.opened_at)) }),
            ),
          )
        : h("tr", {}, h("td", { colspan: 5, class: "muted", text: t("guide.no_calls") })),
    );
  }

  tickTimers() {
    for (const el of document.querySelectorAll("#fitting-rows .timer")) el.textContent = duration(secondsSince(el.dataset.since));
  }
}
