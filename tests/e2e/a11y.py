"""Accessibility checks run inside the page: WCAG AA text contrast and touch-target size.

Contrast: for every visible element with its own text, the text colour against the colour
actually behind it (the element's and its ancestors' backgrounds composited, alpha included,
over the white canvas), with WCAG 2.x relative luminance. AA asks 4.5:1, or 3:1 for large text
(24 px, or 18.66 px bold). Text on a background image or gradient cannot be measured this way
and is reported so a test notices it instead of passing it silently.
"""

from __future__ import annotations

from typing import Any

CONTRAST_JS = r"""
(root) => {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, under) => {
    const a = top.a + under.a * (1 - top.a);
    if (a === 0) return { r: 255, g: 255, b: 255, a: 1 };
    const mix = (x, y) => (x * top.a + y * under.a * (1 - top.a)) / a;
    return { r: mix(top.r, under.r), g: mix(top.g, under.g), b: mix(top.b, under.b), a };
  };
  const lum = (c) => {
    const ch = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * ch(c.r) + 0.7152 * ch(c.g) + 0.0722 * ch(c.b);
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.backgroundImage && s.backgroundImage !== "none") return { image: true };
      const c = parse(s.backgroundColor);
      if (c && c.a > 0) layers.push(c);
      if (c && c.a >= 1) break;
    }
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    for (const layer of layers.reverse()) bg = over(layer, bg);
    return bg;
  };
  const visible = (el) => {
    const s = getComputedStyle(el);
    if (s.visibility === "hidden" || s.display === "none" || Number(s.opacity) === 0) return false;
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) return false;
    if (el.closest("[hidden], [aria-hidden=true], .sr-only, option, script, style")) return false;
    return el.checkVisibility ? el.checkVisibility({ opacityProperty: true, visibilityProperty: true }) : true;
  };
  const out = { checked: 0, failures: [], unmeasured: [] };
  for (const el of (root || document).querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const field = ["INPUT", "SELECT", "TEXTAREA"].includes(el.tagName) && (el.value || "").trim();
    if ((!own && !field) || !visible(el)) continue;
    if (el.disabled) continue; // WCAG 1.4.3 exempts inactive controls
    const s = getComputedStyle(el);
    const fg = parse(s.color);
    const bg = background(el);
    const text = (own ? el.textContent : el.value).trim().slice(0, 40);
    if (bg.image) { out.unmeasured.push(text); continue; }
    const color = over(fg, bg);
    const [l1, l2] = [lum(color), lum(bg)].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(s.fontSize);
    const bold = Number(s.fontWeight) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    const need = large ? 3 : 4.5;
    out.checked += 1;
    if (ratio < need) {
      const under = `rgb(${[bg.r, bg.g, bg.b].map(Math.round).join(",")})`;
      out.failures.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${el.className} "${text}": ` +
        `${ratio.toFixed(2)} < ${need} (${s.color} on ${under})`);
    }
  }
  return out;
}
"""

TARGETS_JS = r"""
(min) => [...document.querySelectorAll("button, select, input, summary, a[href], [role=tab]")]
  .filter((el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && el.checkVisibility() && !el.closest("[hidden]");
  })
  // a checkbox or radio inside its <label> is tapped through the whole label
  .map((el) => ({ el, r: (el.type === "checkbox" || el.type === "radio") && el.closest("label")
    ? el.closest("label").getBoundingClientRect() : el.getBoundingClientRect() }))
  .filter(({ r }) => r.height < min || r.width < min)
  .map(({ el, r }) => {
    const text = (el.textContent || el.value || "").trim().slice(0, 30);
    return `${el.tagName.toLowerCase()}#${el.id} "${text}" ${Math.round(r.width)}x${Math.round(r.height)}`;
  })
"""


def assert_contrast(page: Any, where: str, *, min_checked: int = 3) -> int:
    """Every visible text on the page passes WCAG AA; returns how many texts were measured."""
    out = page.evaluate(CONTRAST_JS, None)
    assert out["checked"] >= min_checked, f"{where}: only {out['checked']} texts measured"
    assert not out["failures"], f"{where}: text below WCAG AA contrast:\n" + "\n".join(out["failures"])
    assert not out["unmeasured"], f"{where}: text on an image or gradient, contrast unknown: {out['unmeasured']}"
    return int(out["checked"])


def assert_touch_targets(page: Any, where: str, min_px: int = 44) -> None:
    """Every visible control is at least `min_px` square (WCAG 2.5.5 / the kiosk's touch rule)."""
    small = page.evaluate(TARGETS_JS, min_px)
    assert small == [], f"{where}: controls smaller than {min_px} px: {small}"
