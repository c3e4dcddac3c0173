// A small canvas line chart (no library): time on x in the store's zone, auto-scaled y,
// up to four series. The canvas has role="img" and an aria-label with the latest values.
import { clock, number } from "/ui/common/format.js";

const COLOURS = ["#0b57d0", "#b3261e", "#146c2e", "#8a4b00"];

export class LineChart {
  constructor(canvas, { unit = "", scale = 1 } = {}) {
    this.canvas = canvas;
    this.unit = unit;
    this.scale = scale;
  }

  /** t: unix seconds; series: [{label, values:[number|null]}] */
  draw(t, series) {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth || 400;
    const hgt = c.clientHeight || 160;
    c.width = Math.round(w * dpr);
    c.height = Math.round(hgt * dpr);
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, hgt);
    const pad = { l: 52, r: 8, t: 8, b: 22 };
    const vals = series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined).map((v) => v * this.scale));
    let lo = vals.length ? Math.min(0, ...vals) : 0;
    let hi = vals.length ? Math.max(...vals) : 1;
    if (hi - lo < 1e-9) hi = lo + 1;
    hi += (hi - lo) * 0.08;
    const x0 = t.length ? t[0] : 0;
    const x1 = t.length > 1 ? t[t.length - 1] : x0 + 1;
    const px = (x) => pad.l + ((x - x0) / (x1 - x0 || 1)) * (w - pad.l - pad.r);
    const py = (y) => hgt - pad.b - ((y - lo) / (hi - lo)) * (hgt - pad.t - pad.b);
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#4a5361";
    g.strokeStyle = "#c9ced6";
    g.lineWidth = 1;
    for (let i = 0; i <= 3; i += 1) {
      const y = lo + ((hi - lo) * i) / 3;
      g.beginPath();
      g.moveTo(pad.l, py(y));
      g.lineTo(w - pad.r, py(y));
      g.stroke();
      g.fillText(number(y, y < 10 ? 2 : 0), 4, py(y) + 4);
    }
    if (t.length) {
      g.fillText(clock(x0), pad.l, hgt - 6);
      const last = clock(x1);
      g.fillText(last, w - pad.r - g.measureText(last).width, hgt - 6);
    }
    series.forEach((s, i) => {
      g.strokeStyle = COLOURS[i % COLOURS.length];
      g.lineWidth = 2;
      g.beginPath();
      let pen = false;
      s.values.forEach((v, j) => {
        if (v === null || v === undefined) {
          pen = false;
          return;
        }
        const X = px(t[j]);
        const Y = py(v * this.scale);
        if (pen) g.lineTo(X, Y);
        else g.moveTo(X, Y);
        pen = true;
      });
      g.stroke();
    });
    const points = vals.length;
    this.canvas.dataset.points = String(points);
    return points;
  }

  colour(i) {
    return COLOURS[i % COLOURS.length];
  }
}
