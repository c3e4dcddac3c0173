// Short confirmation tones from WebAudio: no audio files, works offline.
// Browsers start an AudioContext "suspended" unless a user gesture created or resumed it, and
// a tone played on a suspended context is silent: so the context is made (or resumed) on the
// first tap or key press, and resumed again before each tone.
let ctx = null;

function context() {
  if (!ctx) ctx = new AudioContext();
  if (ctx.state === "suspended") ctx.resume().catch(() => null);
  return ctx;
}

function unlock() {
  try {
    context();
  } catch {
    /* no audio device */
  }
  if (ctx && ctx.state === "running") {
    for (const evt of GESTURES) document.removeEventListener(evt, unlock, true);
  }
}

const GESTURES = ["pointerdown", "keydown", "touchstart"];
for (const evt of GESTURES) document.addEventListener(evt, unlock, true);

/** The audio context's state ("running" once a gesture unlocked it); for tests and diagnostics. */
export function soundState() {
  return ctx ? ctx.state : "none";
}

function tone(c, kind) {
  const osc = c.createOscillator();
  const gain = c.createGain();
  osc.frequency.value = kind === "ok" ? 1046 : kind === "alert" ? 660 : 330;
  gain.gain.setValueAtTime(0.15, c.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, c.currentTime + (kind === "ok" ? 0.12 : 0.35));
  osc.connect(gain).connect(c.destination);
  osc.start();
  osc.stop(c.currentTime + 0.4);
}

export function beep(kind = "ok") {
  try {
    const c = context();
    if (c.state === "running") tone(c, kind);
    else c.resume().then(() => tone(c, kind)).catch(() => null);
  } catch {
    /* no audio device: the visual confirmation still shows */
  }
}
