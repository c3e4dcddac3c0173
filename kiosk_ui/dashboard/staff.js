// Shared pieces of the staff actions: errors in words, modal dialogs, the reason field, and a
// dialog that asks for a reason, runs the action and shows its refusal in place.
import { ApiError } from "/ui/common/api.js";
import { h } from "/ui/common/dom.js";
import { t } from "/ui/common/i18n.js";

let seq = 0;

/** A typed error as a sentence: the dashboard's own words, else the kiosk's, else the daemon's. */
export function errorText(err) {
  if (err instanceof ApiError) {
    for (const key of [`dash.err.${err.code}`, `kiosk.err.${err.code}`]) {
      const text = t(key, { msg: err.message });
      if (text !== key) return text;
    }
  }
  return t("common.error", { msg: (err && err.message) || String(err) });
}

/** A 401 means the session ended: back to the login (main.js listens). */
export function unauthorized(err) {
  if (err instanceof ApiError && err.status === 401) {
    window.dispatchEvent(new Event("re:unauthorized"));
    return true;
  }
  return false;
}

/** A modal dialog, removed from the page when it closes (Escape included, except while
 * `busy(d, true)`: a request in flight must end in the dialog that shows its answer). */
export function dialog(title, ...content) {
  const id = `staff-dialog-${++seq}`;
  const d = h("dialog", { class: "staff-dialog", "aria-labelledby": `${id}-title` }, h("h3", { id: `${id}-title`, text: title }), ...content);
  d.addEventListener("cancel", (e) => {
    if (d.dataset.busy) e.preventDefault();
  });
  d.addEventListener("close", () => d.remove());
  document.body.append(d);
  d.showModal();
  return d;
}

/** A labelled text field; returns [label, input]. */
export function field(labelKey, attrs = {}) {
  const id = attrs.id || `staff-field-${++seq}`;
  return [h("label", { for: id, text: t(labelKey) }), h("input", { autocomplete: "off", ...attrs, id })];
}

/** The reason every staff action carries (kept in the audit log with who acted). */
export function reasonField() {
  const [label, input] = field("dash.act.reason", { maxlength: 200, required: true });
  const help = h("p", { class: "muted hint", id: `staff-hint-${++seq}`, text: t("dash.act.reason_hint") });
  input.setAttribute("aria-describedby", help.id);
  return { nodes: [label, input, help], input };
}

/** Mark a dialog's request in flight: its buttons are off and Escape does not close it. */
export function busy(d, on, ...controls) {
  if (on) d.dataset.busy = "1";
  else delete d.dataset.busy;
  for (const c of controls) c.disabled = on;
}

export function alertBox() {
  return h("p", { class: "error-box", role: "alert", tabindex: "-1", hidden: true });
}

export function showError(box, text) {
  box.textContent = text;
  box.hidden = false;
  box.focus();
}

export function buttons(...list) {
  return h("div", { class: "row dialog-buttons" }, ...list);
}

/** The reason given in `input`, or null after saying in `box` that one is needed. */
export function givenReason(input, box) {
  const reason = input.value.trim();
  if (reason) return reason;
  showError(box, t("dash.act.reason_needed"));
  input.focus();
  return null;
}

/**
 * Ask for a reason and confirm in one dialog, then run `action(reason)` with the dialog open: a
 * refusal is shown in it in words; success closes it and resolves with the action's answer
 * (null when cancelled).
 */
export function confirmWithReason({ title, text, confirmLabel, action }) {
  return new Promise((resolve) => {
    const reason = reasonField();
    const box = alertBox();
    const cancel = h("button", { type: "button", class: "secondary", text: t("common.cancel") });
    const go = h("button", { type: "submit", class: "danger", text: confirmLabel });
    const form = h("form", { novalidate: true }, h("p", { class: "scanned", text }), ...reason.nodes, box, buttons(cancel, go));
    const d = dialog(title, form);
    let answer = null;
    d.addEventListener("close", () => resolve(answer), { once: true });
    cancel.addEventListener("click", () => d.close());
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const why = givenReason(reason.input, box);
      if (why === null) return;
      busy(d, true, go, cancel);
      try {
        answer = await action(why);
        busy(d, false, go, cancel);
        d.close();
      } catch (err) {
        busy(d, false, go, cancel);
        if (unauthorized(err)) return d.close();
        showError(box, errorText(err));
      }
    });
    reason.input.focus();
  });
}

/** Say what happened in a panel's status line (and move focus there: the row may be gone). */
export function notify(el, text) {
  el.textContent = text;
  el.hidden = false;
  el.focus();
}
