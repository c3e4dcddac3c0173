// Money and time the store's way: its currency and its timezone, in the page's language.
import { currentLang } from "./i18n.js";

let store = { currency: "CNY", timezone: "UTC", name: "" };

export async function loadStore() {
  const res = await fetch("/api/ui/store", { cache: "no-store" });
  if (res.ok) store = await res.json();
  return store;
}

export function storeInfo() {
  return store;
}

/** Integer minor units (fen, cents) to the store's currency format. */
export function money(minor, currency = store.currency) {
  const fmt = new Intl.NumberFormat(currentLang(), { style: "currency", currency });
  const digits = fmt.resolvedOptions().maximumFractionDigits;
  return fmt.format(Number(minor) / 10 ** digits);
}

/** A UTC timestamp (ISO string or unix seconds) shown as a wall-clock time in the store's zone. */
export function clock(ts, withDate = false) {
  const d = typeof ts === "number" ? new Date(ts * 1000) : new Date(ts);
  if (Number.isNaN(d.getTime())) return "";
  const opts = { timeZone: store.timezone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
  if (withDate) Object.assign(opts, { year: "numeric", month: "2-digit", day: "2-digit" });
  return new Intl.DateTimeFormat(currentLang(), opts).format(d);
}

/** Seconds as m:ss (or h:mm:ss). */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

export function number(value, digits = 1) {
  return new Intl.NumberFormat(currentLang(), { maximumFractionDigits: digits }).format(value);
}

/** Exactly `digits` decimals (a scale's weight: 1.500 kg). */
export function fixed(value, digits) {
  return new Intl.NumberFormat(currentLang(), { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
}

export function secondsSince(ts) {
  return (Date.now() - new Date(ts).getTime()) / 1000;
}
