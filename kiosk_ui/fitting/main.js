// Shopper phone page: the room's items with sizes/colours/stock, guide calls with live status.
import { api, ApiError } from "/ui/common/api.js";
import { $, fill, h, screen } from "/ui/common/dom.js";
import { duration, loadStore, money, secondsSince } from "/ui/common/format.js";
import { bindLangSelect, initI18n, onLangChange, t } from "/ui/common/i18n.js";
import { LiveStream, refreshBanner } from "/ui/common/sse.js";

const token = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const base = `/api/fitting/rooms/${encodeURIComponent(token)}`;
const ACTIVE = new Set(["open", "escalated", "claimed"]);
let room = null;
const calls = new Map(); // id -> newest version seen
let stream = null;
const picked = new Map(); // item gtin -> the variant the shopper chose (survives re-renders)
let itemsKey = "";

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function toast(text, kind = "notice") {
  const el = $("#toast");
  el.className = kind;
  el.textContent = text;
  el.hidden = !text;
}

function refused() {
  if (stream) stream.close();
  screen("refused");
}

/** A typed refusal in the page's language (fit.err.<code>); the server's sentence otherwise. */
function explain(err) {
  const key = `fit.err.${err.code}`;
  return t(key) === key ? null : t(key);
}

function failed(err) {
  if (!(err instanceof ApiError) || err.code === "offline") return toast(t("fit.offline"), "error-box");
  const known = explain(err);
  // a forged or rotated room code (403), or a malformed one (400 without a code we know)
  if (err.status === 403 || err.code === "bad_room_code" || (err.status === 400 && !known)) return refused();
  if (known) return toast(known, "error-box");
  if (err.status === 429) return toast(t("fit.too_many"), "error-box");
  toast(err.message, "error-box");
}

function variantLabel(v) {
  return [v.size, v.colour].filter(Boolean).join(" · ") || v.gtin;
}

function renderItems() {
  const items = room ? room.items : [];
  $("#no-items").hidden = items.length > 0;
  fill(
    $("#items"),
    items.map((item) => {
      const picker = h("select", { "aria-label": t("fit.pick_variant", { name: item.name }) });
      const others = item.variants.filter((v) => v.gtin !== item.gtin);
      for (const v of others) {
        const opt = h("option", { value: v.gtin, text: `${variantLabel(v)} — ${v.in_stock ? t("fit.in_stock", { n: v.stock }) : t("fit.out_of_stock")}` });
        opt.disabled = !v.in_stock;
        picker.append(opt);
      }
      const firstInStock = others.find((v) => v.in_stock);
      const chosen = others.find((v) => v.in_stock && v.gtin === picked.get(item.gtin));
      if (chosen || firstInStock) picker.value = (chosen || firstInStock).gtin;
      picker.addEventListener("change", () => picked.set(item.gtin, picker.value));
      const variantBtn = h("button", {
        type: "button",
        text: t("fit.other_size"),
        on: { click: () => call({ kind: "variant", gtin: item.gtin, want_gtin: picker.value }) },
      });
      variantBtn.disabled = !firstInStock;
      return h(
        "li",
        { class: "item", dataset: { gtin: item.gtin } },
        h("h3", { text: item.name }),
        h("p", { class: "muted" }, variantLabel(item), " · ", money(item.price_minor, item.currency)),
        h(
          "ul",
          { class: "variants", "aria-label": t("fit.sizes_colours") },
          item.variants.map((v) =>
            h("li", { class: `variant${v.gtin === item.gtin ? " current" : ""}${v.in_stock ? "" : " out"}` }, variantLabel(v), " ", h("span", { class: "muted", text: `(${v.stock})` })),
          ),
        ),
        h(
          "div",
          { class: "actions" },
          others.length ? picker : null,
          others.length ? variantBtn : null,
          h("button", { type: "button", class: "secondary", text: t("fit.bring_too"), on: { click: () => call({ kind: "bring", gtin: item.gtin }) } }),
        ),
      );
    }),
  );
}

function callText(c) {
  if (c.kind === "variant") {
    const want = c.want ? c.want.name || [c.want.size, c.want.colour].filter(Boolean).join(" · ") : c.want_gtin || "";
    return t("fit.kind.variant", { want });
  }
  if (c.kind === "bring") return t("fit.kind.bring", { item: (room && room.items.find((i) => i.gtin === c.gtin) || {}).name || c.gtin || "" });
  return t("fit.kind.help");
}

function stateText(c) {
  if (c.state === "claimed") return t("fit.state.claimed"); // the shopper is not shown staff device ids
  return t(`fit.state.${c.state}`);
}

function renderCalls() {
  const list = [...calls.values()].sort((a, b) => (a.opened_at < b.opened_at ? 1 : -1)).slice(0, 10);
  $("#no-calls").hidden = list.length > 0;
  fill(
    $("#calls"),
    list.map((c) =>
      h(
        "li",
        { class: "call", dataset: { state: c.state, call: c.id } },
        h("span", { class: "state", text: stateText(c) }),
        h("span", { text: callText(c) }),
        c.note ? h("p", { class: "scanned note", text: c.note }) : null,
        ACTIVE.has(c.state) ? h("span", { class: "muted timer", dataset: { since: c.opened_at } }, ` · ${duration(secondsSince(c.opened_at))}`) : null,
        ACTIVE.has(c.state)
          ? h("div", {}, h("button", { type: "button", class: "secondary", text: t("fit.cancel"), on: { click: () => cancel(c.id) } }))
          : null,
      ),
    ),
  );
}

function upsert(c) {
  const old = calls.get(c.id);
  if (old && old.version > c.version) return;
  calls.set(c.id, c);
  renderCalls();
}

async function call(body) {
  try {
    const note = body.kind === "help" ? $("#note").value.trim() : "";
    const out = await api(`${base}/calls`, { method: "POST", body: { ...body, note, request_id: randomId() } });
    upsert(out.call);
    if (body.kind === "help") $("#note").value = "";
    toast(out.merged ? t("fit.merged") : t("fit.sent"));
  } catch (err) {
    failed(err);
  }
}

async function cancel(id) {
  try {
    upsert(await api(`${base}/calls/${encodeURIComponent(id)}/cancel`, { method: "POST" }));
  } catch (err) {
    failed(err);
  }
}

async function load() {
  room = await api(base);
  fill($("#room-name"), room.room_name || room.room_id);
  document.title = `${room.room_name} · ${t("fit.title")}`;
  for (const c of room.calls) upsert(c);
  // re-render items only when they changed, so a shopper's open picker is not reset under them
  const key = JSON.stringify(room.items.map((i) => [i.gtin, i.variants.map((v) => [v.gtin, v.stock])]));
  if (key !== itemsKey) {
    itemsKey = key;
    renderItems();
  }
  renderCalls();
}

async function addCode(e) {
  e.preventDefault();
  const code = $("#code").value.trim();
  if (!code) return;
  try {
    await api(`${base}/items`, { method: "POST", body: { code } });
    $("#code").value = "";
    await load();
  } catch (err) {
    failed(err);
  }
}

async function boot() {
  await initI18n();
  await loadStore();
  bindLangSelect($("#lang"));
  onLangChange(() => {
    refreshBanner();
    itemsKey = "";
    renderItems();
    renderCalls();
  });
  $("#call-help").addEventListener("click", () => call({ kind: "help" }));
  $("#add-form").addEventListener("submit", addCode);
  try {
    await load();
  } catch (err) {
    if (err instanceof ApiError && (err.status === 403 || err.status === 400)) return refused();
    throw err;
  }
  screen("room");
  stream = new LiveStream(`${base}/events`, {
    onEvent: (type, data) => {
      if (type === "call") upsert(data);
    },
    onOpen: () => load().catch(failed), // items may have been scanned while we were away
    onAuthError: refused,
  });
  setInterval(() => {
    for (const el of document.querySelectorAll(".timer")) el.textContent = ` · ${duration(secondsSince(el.dataset.since))}`;
  }, 1000);
  // a visit's items change when the room camera scans: refresh every few seconds while visible
  setInterval(() => {
    if (document.visibilityState === "visible") load().catch(() => null);
  }, 5000);
}

boot();
