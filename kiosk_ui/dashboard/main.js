// Dashboard shell: login (HttpOnly cookie session), tabs usable by keyboard, and panel refresh.
import { api, ApiError } from "/ui/common/api.js";
import { $, fill, screen } from "/ui/common/dom.js";
import { loadStore, storeInfo } from "/ui/common/format.js";
import { bindLangSelect, initI18n, onLangChange, t } from "/ui/common/i18n.js";
import { refreshBanner } from "/ui/common/sse.js";
import { Cameras } from "./cameras.js";
import { Charts } from "./charts.js";
import { FittingBoard } from "./fitting.js";
import { Devices } from "./admin.js";
import { Config, Overview } from "./panels.js";
import { SyncPanel } from "./sync.js";
import { Transactions } from "./transactions.js";

const HINT = "re_dash_user"; // not a secret: only says a session cookie probably exists

const panels = {
  overview: new Overview(),
  cameras: new Cameras(),
  charts: new Charts(),
  fitting: new FittingBoard(),
  transactions: new Transactions(),
  sync: new SyncPanel(),
  devices: new Devices(),
  config: new Config(),
};
let active = "overview";

function selectTab(name, focus = false) {
  active = name;
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const on = tab.dataset.tab === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    tab.setAttribute("aria-controls", `panel-${tab.dataset.tab}`);
    if (on && focus) tab.focus();
  }
  for (const panel of document.querySelectorAll("[role=tabpanel]")) panel.hidden = panel.dataset.panel !== name;
  for (const [key, p] of Object.entries(panels)) (key === name ? p.show() : p.hide());
  history.replaceState(null, "", `#${name}`);
}

function wireTabs() {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  for (const tab of tabs) {
    tab.id = `tab-${tab.dataset.tab}`;
    tab.addEventListener("click", () => selectTab(tab.dataset.tab));
    tab.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(tab);
      const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (next === undefined) return;
      e.preventDefault();
      selectTab(tabs[(next + tabs.length) % tabs.length].dataset.tab, true);
    });
  }
  for (const panel of document.querySelectorAll("[role=tabpanel]")) {
    panel.setAttribute("aria-labelledby", `tab-${panel.dataset.panel}`);
  }
}

async function enter(me) {
  localStorage.setItem(HINT, me.id);
  fill($("#who"), t("dash.signed_in_as", { user: me.id }));
  $("#logout").hidden = false;
  screen("app");
  const wanted = location.hash.slice(1);
  selectTab(wanted in panels ? wanted : "overview");
  panels.charts.startStream();
}

function toLogin(message) {
  localStorage.removeItem(HINT);
  for (const p of Object.values(panels)) p.hide();
  panels.charts.stopStream();
  $("#logout").hidden = true;
  fill($("#who"));
  screen("login");
  const err = $("#login-error");
  err.hidden = !message;
  err.textContent = message || "";
  $("#username").focus();
}

async function login(e) {
  e.preventDefault();
  const username = $("#username").value.trim();
  const password = $("#password").value;
  if (!username || !password) {
    toLogin(t("dash.login.missing"));
    return;
  }
  $("#login-submit").disabled = true;
  try {
    await api("/api/auth/login", { method: "POST", body: { username, password } });
    $("#password").value = "";
    await enter(await api("/api/auth/me"));
  } catch (err) {
    toLogin(err instanceof ApiError && err.status === 401 ? t("dash.login.wrong") : t("common.error", { msg: err.message }));
  } finally {
    $("#login-submit").disabled = false;
  }
}

async function logout() {
  await api("/api/auth/logout", { method: "POST" }).catch(() => null);
  toLogin("");
}

/** Any panel that gets a 401 sends the user back to the login. */
window.addEventListener("re:unauthorized", () => toLogin(t("dash.login.expired")));

async function boot() {
  await initI18n();
  const store = await loadStore();
  fill($("#store-name"), store.name);
  bindLangSelect($("#lang"));
  onLangChange(() => {
    refreshBanner();
    document.title = `${storeInfo().name} · ${t("dash.title")}`;
    panels[active].show();
  });
  document.title = `${store.name} · ${t("dash.title")}`;
  wireTabs();
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  if (!localStorage.getItem(HINT)) {
    toLogin("");
    return;
  }
  try {
    const me = await api("/api/auth/me");
    if (me.kind !== "user") throw new ApiError(403, "staff_only", "");
    await enter(me);
  } catch {
    toLogin("");
  }
}

boot();
