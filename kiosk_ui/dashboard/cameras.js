// Camera grid: a live snapshot per camera (refreshed every few seconds) with its health figures.
import { api } from "/ui/common/api.js";
import { $, fill, h } from "/ui/common/dom.js";
import { clock, number } from "/ui/common/format.js";
import { t } from "/ui/common/i18n.js";
import { Panel } from "./base.js";
import { badge } from "./panels.js";

const SNAPSHOT_MS = 3000;
const HIDDEN = new Set(["id", "source", "name", "status", "reason", "role", "target", "enabled", "roi", "kind", "error", "decode"]);

function label(key) {
  const k = `cam.${key}`;
  const s = t(k);
  return s === k ? key.replaceAll("_", " ") : s;
}

function value(v) {
  if (typeof v === "number") return number(v, 1);
  if (typeof v === "boolean") return v ? "✓" : "✗";
  return String(v);
}

export class Cameras extends Panel {
  constructor() {
    super(SNAPSHOT_MS);
    this.cards = new Map();
    this.samples = new Map(); // camera id -> {n: cumulative decodes, at: ms} from the last refresh
  }

  /** Decodes per second from two consecutive samples of the camera's cumulative decode count. */
  decodeRate(cam, now) {
    const n = cam.decode && typeof cam.decode.decoded === "number" ? cam.decode.decoded : null;
    if (n === null) return null;
    const prev = this.samples.get(cam.id);
    this.samples.set(cam.id, { n, at: now });
    if (!prev || now <= prev.at || n < prev.n) return null; // first sample, or the counter restarted
    return (n - prev.n) / ((now - prev.at) / 1000);
  }

  async refresh() {
    const [data, scans] = await Promise.all([api("/api/cameras"), api("/api/admin/scans/recent")]);
    const cams = Array.isArray(data) ? data : data.cameras || [];
    const lastScan = new Map();
    for (const s of scans) if (!lastScan.has(s.camera_id)) lastScan.set(s.camera_id, s);
    $("#cameras-empty").hidden = cams.length > 0;
    const grid = $("#camera-grid");
    const seen = new Set();
    for (const cam of cams) {
      seen.add(cam.id);
      let card = this.cards.get(cam.id);
      if (!card) {
        card = this.card(cam);
        this.cards.set(cam.id, card);
        grid.append(card.root);
      }
      this.update(card, cam, lastScan.get(cam.id), this.decodeRate(cam, performance.now()));
    }
    for (const [id, card] of this.cards) {
      if (!seen.has(id)) {
        card.root.remove();
        this.cards.delete(id);
        this.samples.delete(id);
      }
    }
  }

  card(cam) {
    const img = h("img", { alt: t("dash.cameras.snapshot_of", { id: cam.id }), width: 320, height: 240 });
    const none = h("div", { class: "nosnap", text: t("dash.cameras.no_frame") });
    const status = h("span");
    const stats = h("dl");
    const title = h("h3", {}, h("span", { text: cam.id }), " ", status);
    const meta = h("p", { class: "muted" });
    const scan = h("span", { class: "last-scan scanned" });
    const scanLine = h("p", {}, h("span", { class: "muted", text: `${t("dash.cameras.last_scan")}: ` }), scan);
    const root = h("figure", { class: "camera card", dataset: { camera: cam.id } }, title, img, none, h("figcaption", {}, meta, scanLine, stats));
    img.hidden = true;
    img.addEventListener("load", () => {
      img.hidden = false;
      none.hidden = true;
      root.dataset.snapshot = "loaded";
    });
    img.addEventListener("error", () => {
      img.hidden = true;
      none.hidden = false;
    });
    return { root, img, none, status, stats, meta, scan };
  }

  update(card, cam, scan, rate) {
    const status = cam.status || "unknown";
    fill(card.status, badge(status));
    card.root.dataset.status = status;
    fill(card.meta, [cam.kind, cam.role, cam.target].filter(Boolean).join(" · "), cam.error ? ` — ${cam.error}` : "");
    card.scan.textContent = scan ? scan.text : "—";
    card.scan.title = scan ? `${scan.symbology} · ${clock(scan.ts)}` : "";
    const flat = { ...cam, ...Object.fromEntries(Object.entries(cam.decode || {}).map(([k, v]) => [`decode_${k}`, v])) };
    const pairs = Object.entries(flat).filter(([k, v]) => !HIDDEN.has(k) && v !== null && typeof v !== "object");
    const rateRow = cam.decode && "decoded" in cam.decode
      ? [h("dt", { text: t("cam.decode_rate") }), h("dd", { class: "decode-rate", dataset: { rate: rate === null ? "" : rate.toFixed(2) }, text: rate === null ? "…" : number(rate, 1) })]
      : [];
    fill(card.stats, rateRow, pairs.flatMap(([k, v]) => [h("dt", { text: label(k) }), h("dd", { text: value(v) })]));
    const hasFrame = status === "online" || cam.has_frame === true || cam.last_frame_age_s != null;
    if (hasFrame) {
      card.img.src = `/api/cameras/${encodeURIComponent(cam.id)}/snapshot.jpg?ts=${Date.now()}`;
    } else {
      card.img.hidden = true;
      card.none.hidden = false;
    }
  }
}
