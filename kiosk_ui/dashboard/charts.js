// Charts from the daemon's own metrics ring: history once, then live samples over SSE.
import { api } from "/ui/common/api.js";
import { $, fill, h } from "/ui/common/dom.js";
import { number } from "/ui/common/format.js";
import { t } from "/ui/common/i18n.js";
import { LiveStream } from "/ui/common/sse.js";
import { Panel } from "./base.js";
import { LineChart } from "./chart.js";

const MAX_POINTS = 900;

// Each chart picks series by name, so a domain adding a metric (edge_<domain>_...) shows up
// without a page change. Per-camera series ("name{cam}") are left out of the aggregates.
const CHARTS = [
  { id: "decode_rate", title: "chart.decode_rate", unit: "/s", names: ["edge_scanning_decode_seconds:rate", "edge_scanning_events:rate"], match: /^edge_scanning_.*(decod|read).*:rate$/ },
  { id: "decode_latency", title: "chart.decode_latency", unit: "ms", scale: 1000, names: ["edge_scanning_decode_seconds:mean", "edge_scanning_frame_to_event_seconds:mean"], match: /^edge_scanning_.*seconds:mean$/ },
  { id: "face_latency", title: "chart.face_latency", unit: "ms", scale: 1000, match: /^edge_facepay_.*seconds:mean$/ },
  { id: "mqtt", title: "chart.mqtt", unit: "", names: ["edge_mqtt_connected", "edge_mqtt_queue_depth"], match: /^edge_mqtt_.*(queue|pending|depth).*$/ },
  { id: "sync_backlog", title: "chart.sync_backlog", unit: "", names: ["edge_sync_backlog_events"], match: /^edge_sync_.*(backlog|pending|unsent).*(?<!seconds)$/ },
  { id: "sync_age", title: "chart.sync_age", unit: "s", names: ["edge_sync_oldest_unsent_age_seconds"], match: /^edge_sync_.*(oldest|age).*seconds$/ },
  { id: "camera_fps", title: "chart.camera_fps", unit: "/s", names: ["edge_cameras_fps"], match: /^edge_cameras_fps$/ },
  { id: "http", title: "chart.http", unit: "ms", scale: 1000, names: ["edge_http_request_seconds:mean"], match: /^$/ },
  { id: "cpu", title: "chart.cpu", unit: "%", scale: 100, names: ["process_cpu_seconds:rate"], match: /^$/ },
  { id: "memory", title: "chart.memory", unit: "MB", scale: 1 / 1048576, names: ["process_resident_memory_bytes"], match: /^$/ },
];

export class Charts extends Panel {
  constructor() {
    super(0);
    this.t = [];
    this.series = {};
    this.loaded = false;
    this.stream = null;
    this.views = new Map();
  }

  async refresh() {
    if (!this.loaded) {
      const data = await api("/api/admin/metrics/history");
      this.t = data.t;
      this.series = data.series;
      this.loaded = true;
    }
    this.render();
  }

  startStream() {
    if (this.stream) return;
    this.stream = new LiveStream("/api/admin/metrics/stream", {
      onEvent: (type, data) => type === "sample" && this.add(data),
      onAuthError: () => window.dispatchEvent(new Event("re:unauthorized")),
    });
  }

  stopStream() {
    if (this.stream) this.stream.close();
    this.stream = null;
    this.loaded = false;
  }

  add(sample) {
    if (!this.loaded) return;
    if (this.t.length && sample.t <= this.t[this.t.length - 1]) return;
    const n = this.t.length;
    this.t.push(sample.t);
    for (const [name, v] of Object.entries(sample.values)) {
      if (!this.series[name]) this.series[name] = new Array(n).fill(null);
    }
    for (const [name, arr] of Object.entries(this.series)) arr.push(sample.values[name] ?? null);
    if (this.t.length > MAX_POINTS) {
      this.t.shift();
      for (const arr of Object.values(this.series)) arr.shift();
    }
    if (this.visible) this.render();
  }

  view(def) {
    let v = this.views.get(def.id);
    if (!v) {
      const canvas = h("canvas", { role: "img", width: 400, height: 170 });
      const legend = h("ul", { class: "legend" });
      const title = h("h3");
      const empty = h("p", { class: "muted" });
      const root = h("section", { class: "chart card", dataset: { chart: def.id } }, title, canvas, legend, empty);
      v = { root, canvas, legend, title, empty, chart: new LineChart(canvas, { unit: def.unit, scale: def.scale || 1 }) };
      this.views.set(def.id, v);
      $("#charts").append(root);
    }
    return v;
  }

  render() {
    const names = Object.keys(this.series).filter((n) => !n.includes("{"));
    for (const def of CHARTS) {
      const v = this.view(def);
      // the known series first, then any a domain adds later that fits the pattern
      const known = (def.names || []).filter((n) => n in this.series);
      const picked = [...new Set([...known, ...names.filter((n) => def.match.test(n))])].slice(0, 4);
      const unit = def.unit ? ` (${def.unit})` : "";
      fill(v.title, t(def.title), unit);
      const series = picked.map((n) => ({ label: seriesLabel(n), values: this.series[n] }));
      const points = v.chart.draw(this.t, series);
      v.root.dataset.points = String(points);
      const latest = series.map((s) => {
        const last = [...s.values].reverse().find((x) => x !== null && x !== undefined);
        return { label: s.label, text: last === undefined ? "—" : number(last * (def.scale || 1), 2) };
      });
      fill(
        v.legend,
        latest.map((s, i) => h("li", {}, h("span", { class: `swatch swatch-${i}`, "aria-hidden": "true" }), `${s.label}: ${s.text}`)),
      );
      v.canvas.setAttribute("aria-label", `${t(def.title)}: ${latest.map((s) => `${s.label} ${s.text}`).join(", ") || t("chart.no_data")}`);
      v.empty.textContent = points ? "" : t("chart.no_data");
      v.empty.hidden = points > 0;
    }
  }
}

/** A series in words: its own text where the catalogue has one (metric.<name>), else the metric
 * name made readable (domain prefix and unit suffix dropped, ":rate" as "/s", ":mean" as "avg"). */
export function seriesLabel(name) {
  const key = `metric.${name}`;
  if (t(key) !== key) return t(key);
  const [base, agg] = name.split(":");
  const words = base.replace(/^edge_[a-z]+_/, "").replace(/^process_/, "").replace(/_(seconds|bytes|total)$/, "").replaceAll("_", " ");
  return agg === "rate" ? `${words} /s` : agg === "mean" ? `${words} (avg)` : words;
}
