// One catalog per language (common/i18n/<lang>.json); the choice is kept in localStorage.

const SUPPORTED = ["zh-CN", "en"];
const KEY = "re_lang";
let lang = "en";
let catalog = {};
let fallback = {};
const listeners = [];

export function currentLang() {
  return lang;
}

export function supportedLangs() {
  return SUPPORTED.slice();
}

function pick() {
  const saved = localStorage.getItem(KEY);
  if (saved && SUPPORTED.includes(saved)) return saved;
  const nav = (navigator.language || "en").toLowerCase();
  return nav.startsWith("zh") ? "zh-CN" : "en";
}

async function load(name) {
  const res = await fetch(`/ui/common/i18n/${name}.json`, { cache: "no-cache" });
  if (!res.ok) throw new Error(`catalog ${name} missing`);
  return res.json();
}

export async function initI18n() {
  fallback = await load("en");
  await setLang(pick(), false);
}

export async function setLang(name, remember = true) {
  if (!SUPPORTED.includes(name)) return;
  catalog = name === "en" ? fallback : await load(name);
  lang = name;
  if (remember) localStorage.setItem(KEY, name);
  document.documentElement.lang = name;
  applyI18n(document);
  for (const fn of listeners) fn(name);
}

export function onLangChange(fn) {
  listeners.push(fn);
}

/** t("kiosk.added", {name: "Tea"}) with {name} placeholders; a missing key shows the key itself. */
export function t(key, vars = {}) {
  const text = catalog[key] ?? fallback[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

/** Fill [data-i18n] (text), [data-i18n-aria] (aria-label), [data-i18n-ph] (placeholder). */
export function applyI18n(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
  for (const el of root.querySelectorAll("[data-i18n-ph]")) el.setAttribute("placeholder", t(el.dataset.i18nPh));
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.setAttribute("title", t(el.dataset.i18nTitle));
}

/** Wire a <select id="lang"> (or any select) to the catalogs. */
export function bindLangSelect(select) {
  select.replaceChildren();
  for (const name of SUPPORTED) {
    const opt = document.createElement("option");
    opt.value = name;
    opt.textContent = name === "zh-CN" ? "中文" : "English";
    select.append(opt);
  }
  select.value = lang;
  select.addEventListener("change", () => setLang(select.value));
  onLangChange((name) => {
    select.value = name;
  });
}
