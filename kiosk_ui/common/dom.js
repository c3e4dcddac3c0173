// DOM helpers that only ever create text nodes from data: scanned or typed text stays inert.
// Nothing in kiosk_ui parses HTML strings into the page (tests/e2e/test_ui_api.py checks).

/**
 * h("li", {class: "row", "aria-label": "x", on: {click: fn}}, "text", child)
 * Strings and numbers become text nodes; null/undefined/false children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "on") {
      for (const [evt, fn] of Object.entries(value)) el.addEventListener(evt, fn);
    } else if (key === "text") {
      el.textContent = String(value);
    } else if (key === "class") {
      el.className = String(value);
    } else if (key === "dataset") {
      for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
    } else if (key.startsWith("on")) {
      throw new Error("use the `on` attribute for event handlers");
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace all children of `el` (text stays text). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function $(selector, root = document) {
  const el = root.querySelector(selector);
  if (!el) throw new Error(`missing element ${selector}`);
  return el;
}

export function show(el, visible = true) {
  el.hidden = !visible;
}

/** Show exactly one of the `[data-screen]` sections inside root. */
export function screen(name, root = document) {
  for (const el of root.querySelectorAll("[data-screen]")) el.hidden = el.dataset.screen !== name;
}
