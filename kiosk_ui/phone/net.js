// The outbox: every scan (a camera frame or a typed code) goes to the box in the order it was
// made, one request at a time. While the box answers, scans go live; while it cannot be reached
// (no network, Wi-Fi dropped, the daemon restarting) they wait here in memory, and are sent in
// order once it answers again. A scan whose request failed on the way is sent again with the
// same id: the box counts each frame id and each scan id once, so nothing is lost or doubled.
import { ApiError } from "/ui/common/api.js";
import { sleep } from "./state.js";

export const MAX_QUEUED = 240; // frames kept while offline (two minutes at two a second)
const FLUSH_GAP_MS = 200; // five queued scans a second: under the box's six frames a second per phone
const RETRY = new Set([429, 503]); // rate limited, scanner busy: a waiting scan is sent again later

const waiting = []; // {kind: "frame", id, t, blob} | {kind: "typed", code, qty, scan_id}; plus queued, done
let online = navigator.onLine !== false;
let pumping = false;
let stopped = false;
let hooks = {
  send: async () => null, // (item) => the box's answer; throws ApiError
  settle: () => {}, // (item, {ok, data?, err?}) once the box answered (or refused) an item
  expired: async () => {}, // the cart expired (410): re-read the state, then the item goes to the new cart
  change: () => {}, // the number of waiting scans or the connection changed
  connection: () => {}, // (online)
};

/** Until this performance.now() time, no live frame is captured (the box asked us to slow down). */
export let backoffUntil = 0;

export function configure(h) {
  hooks = { ...hooks, ...h };
  window.addEventListener("offline", () => setOnline(false));
}

export function isOnline() {
  return online && navigator.onLine !== false && !stopped;
}

/** Scans waiting for the box (including one in flight). */
export function pending() {
  return waiting.length;
}

/** Scans the shopper made that the box has not had yet (shown as "N scans waiting to send"). */
export function queuedCount() {
  return waiting.filter((i) => i.queued).length;
}

export function setOnline(value) {
  if (stopped || online === value) return;
  online = value;
  hooks.connection(value);
  hooks.change();
  if (value) pump();
}

/** The phone has no session any more (401): nothing more is sent. */
export function stop() {
  stopped = true;
  waiting.length = 0;
  hooks.change();
}

export function slowDown(err) {
  const s = Number(err?.details?.retry_after_s);
  backoffUntil = performance.now() + (Number.isFinite(s) && s > 0 ? Math.min(s, 30) * 1000 : 1000);
}

/**
 * Send a scan. Live (online, nothing waiting): resolves "sent" or "refused" once the box answered.
 * Otherwise it joins the queue and resolves "queued" at once (false when the queue is full).
 */
export function submit(item) {
  if (stopped) return Promise.resolve("refused");
  if (!isOnline()) return Promise.resolve(queue(item) ? "queued" : false);
  return new Promise((resolve) => {
    item.done = resolve;
    waiting.push(item);
    pump();
  });
}

function queue(item) {
  if (item.kind === "frame" && waiting.length >= MAX_QUEUED) return false;
  item.queued = true;
  waiting.push(item);
  hooks.change();
  return true;
}

function finish(item, how) {
  const done = item.done;
  item.done = null;
  if (done) done(how);
}

function retryMs(err) {
  const s = Number(err?.details?.retry_after_s);
  return Number.isFinite(s) && s > 0 ? Math.min(s, 30) * 1000 : 1000;
}

/** Send what waits, in order, while the box answers. */
export async function pump() {
  if (pumping) return;
  pumping = true;
  try {
    while (waiting.length && isOnline()) {
      const item = waiting[0];
      let outcome;
      item.attempts = (item.attempts || 0) + 1;
      try {
        outcome = { ok: true, data: await hooks.send(item) };
      } catch (err) {
        outcome = { ok: false, err: err instanceof ApiError ? err : new ApiError(0, "offline", String(err)) };
      }
      const err = outcome.err;
      if (err && err.code === "offline") {
        // it may or may not have arrived: it stays first and goes again, with the same id
        if (!item.queued) {
          item.queued = true;
          finish(item, "queued");
        }
        setOnline(false);
        break;
      }
      if (err && err.code === "session_expired" && !item.renewed) {
        item.renewed = true; // once: the state's new cart takes it
        await hooks.expired();
        continue;
      }
      if (err && RETRY.has(err.status) && item.queued) {
        await sleep(retryMs(err)); // a scan the shopper made offline is never dropped for a busy box
        continue;
      }
      waiting.shift();
      const wasQueued = item.queued;
      hooks.change();
      try {
        hooks.settle(item, outcome);
      } finally {
        finish(item, outcome.ok ? "sent" : "refused");
      }
      if (wasQueued && waiting.length) await sleep(FLUSH_GAP_MS);
    }
  } finally {
    pumping = false;
  }
  if (waiting.length && isOnline()) {
    pump();
    return;
  }
  for (const item of waiting) {
    if (item.queued) continue;
    item.queued = true; // the connection went while it waited behind another scan
    finish(item, "queued");
  }
  hooks.change();
}

/** POST bytes (a camera frame): the box's typed errors as ApiError, a network failure as "offline". */
export async function postBytes(path, blob, headers) {
  let res;
  try {
    res = await fetch(path, {
      method: "POST",
      body: blob,
      headers: { Accept: "application/json", ...headers },
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "offline", "the store box cannot be reached");
  }
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(res.status, e.code || `http_${res.status}`, e.message || res.statusText, e.details);
  }
  if (data === null) throw new ApiError(0, "offline", "the answer was cut off"); // sent again, same id
  return data;
}
