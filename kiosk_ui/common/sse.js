// Server-sent events over fetch (so device pages can send their Bearer token), with automatic
// reconnect and a visible state: every LiveStream reports "open" | "reconnecting" to the
// page's connection banner (#conn), which also survives a daemon restart.
import { authHeaders } from "./api.js";
import { t } from "./i18n.js";

const streams = new Set();

function updateBanner() {
  const el = document.getElementById("conn");
  if (!el) return;
  const down = [...streams].some((s) => s.state === "reconnecting");
  el.hidden = !down;
  el.dataset.state = down ? "reconnecting" : "open";
  el.textContent = down ? t("conn.reconnecting") : "";
}

export class LiveStream {
  /**
   * @param {string} url
   * @param {{onEvent:(type:string,data:any,id:string)=>void, onOpen?:()=>void, onAuthError?:(e:any)=>void}} handlers
   */
  constructor(url, { onEvent, onOpen, onAuthError } = {}) {
    this.url = url;
    this.onEvent = onEvent || (() => {});
    this.onOpen = onOpen || (() => {});
    this.onAuthError = onAuthError || (() => {});
    this.state = "connecting";
    this.retryMs = 1000;
    this.failures = 0;
    this.lastId = "";
    this.abort = null;
    this.closed = false;
    streams.add(this);
    this.run();
  }

  setState(state) {
    this.state = state;
    updateBanner();
  }

  close() {
    this.closed = true;
    if (this.abort) this.abort.abort();
    streams.delete(this);
    updateBanner();
  }

  async run() {
    while (!this.closed) {
      let fatal = false;
      try {
        fatal = await this.connectOnce();
      } catch (err) {
        // network gone (daemon restarting, Wi-Fi drop): reconnect below
      }
      if (this.closed || fatal) return;
      this.failures += 1;
      this.setState("reconnecting");
      const wait = Math.min(10000, this.retryMs * Math.min(this.failures, 5));
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  async connectOnce() {
    this.abort = new AbortController();
    const headers = { Accept: "text/event-stream", ...authHeaders() };
    if (this.lastId) headers["Last-Event-ID"] = this.lastId;
    const res = await fetch(this.url, { headers, credentials: "same-origin", cache: "no-store", signal: this.abort.signal });
    if (res.status === 401 || res.status === 403 || res.status === 404 || res.status === 410) {
      const body = await res.json().catch(() => ({}));
      this.setState("closed");
      this.onAuthError({ status: res.status, ...(body.error || {}) });
      return true;
    }
    if (!res.ok || !res.body) throw new Error(`stream ${res.status}`);
    this.failures = 0;
    this.setState("open");
    this.onOpen();
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut).replace(/^\r?\n\r?\n/, "");
        this.dispatch(block);
      }
    }
    return false; // server closed the stream: reconnect
  }

  dispatch(block) {
    let type = "message";
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (!line || line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "event") type = val;
      else if (field === "data") data.push(val);
      else if (field === "id") this.lastId = val;
      else if (field === "retry" && /^\d+$/.test(val)) this.retryMs = Number(val);
    }
    if (!data.length) return;
    const text = data.join("\n");
    let parsed = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* plain text event */
    }
    this.onEvent(type, parsed, this.lastId);
  }
}

/** Re-render the banner's text after a language switch. */
export function refreshBanner() {
  updateBanner();
}
