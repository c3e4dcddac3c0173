// A panel that refreshes itself every `everyMs` while visible, and stops when hidden.
import { ApiError } from "/ui/common/api.js";

export class Panel {
  constructor(everyMs = 0) {
    this.everyMs = everyMs;
    this.timer = null;
    this.visible = false;
  }

  show() {
    this.visible = true;
    this.tick();
    if (this.everyMs && !this.timer) this.timer = setInterval(() => this.tick(), this.everyMs);
  }

  hide() {
    this.visible = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async tick() {
    try {
      await this.refresh();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        window.dispatchEvent(new Event("re:unauthorized"));
        return;
      }
      this.failed(err);
    }
  }

  async refresh() {}

  failed(err) {
    // offline during a restart: the banner says so; keep the last data on screen. Anything
    // else (an API refusal, a bug in the page) is an error the console and the tests must see.
    if (err instanceof ApiError && err.code === "offline") return;
    console.error("panel refresh failed", err instanceof ApiError ? err.code : err);
  }
}
