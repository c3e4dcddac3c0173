// The phone's camera: the rear camera into a viewfinder with an aiming box, and a centre crop of
// the picture sent to the box a few times a second, where the kiosk's decoders read it.
//
// The crop (docs/pages.md; the benchmark reproduces it exactly, keep them identical): a centre
// crop of width cw = round(0.9 x videoWidth) and height ch = min(videoHeight, round(0.6 x cw)),
// from x = floor((videoWidth - cw) / 2), y = floor((videoHeight - ch) / 2); when cw > 640, scaled
// to 640 x max(1, round(ch x 640 / cw)) (never up); JPEG at quality 0.75
// (scripts/bench/phone.py page_frame does the same). At most 4 frames a second with one request in
// flight (the next capture waits for the previous answer and for 250 ms since the last capture);
// while offline, 2 a second go to the queue instead.
import * as net from "./net.js";
import { randomId, sleep } from "./state.js";

export const CROP = { widthShare: 0.9, heightRatio: 0.6, maxWidth: 640, quality: 0.75 };
const LIVE_GAP_MS = 250;
const OFFLINE_GAP_MS = 500;

const prefix = randomId(6); // frame ids: unique per page load, then a counter
let counter = 0;
let run = 0; // bumped on close: a loop of an older opening stops
let stream = null;
let canvas = null;
let detector = null;

/** The crop of a videoWidth x videoHeight picture: source rectangle and output size. */
export function cropRect(vw, vh) {
  const cw = Math.round(CROP.widthShare * vw);
  const ch = Math.min(vh, Math.round(CROP.heightRatio * cw));
  const wide = cw > CROP.maxWidth;
  return {
    sx: Math.floor((vw - cw) / 2),
    sy: Math.floor((vh - ch) / 2),
    cw,
    ch,
    ow: wide ? CROP.maxWidth : cw,
    oh: wide ? Math.max(1, Math.round((ch * CROP.maxWidth) / cw)) : ch,
  };
}

export function isOpen() {
  return stream !== null;
}

/** Open the rear camera into `video` and start sending frames; throws the getUserMedia error. */
export async function open(video, { onHint } = {}) {
  if (stream) return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    const err = new Error("no camera API (the page needs https or localhost)");
    err.name = "NoCameraApi";
    throw err;
  }
  const me = ++run;
  const s = await rearCamera(video, () => me === run);
  if (!s) return;
  stream = s;
  canvas = canvas || document.createElement("canvas");
  if (!detector && "BarcodeDetector" in window) {
    try {
      detector = new window.BarcodeDetector(); // a hint for the aiming box only; the box decides
    } catch {
      detector = null;
    }
  }
  loop(me, video, onHint || (() => {}));
}

/** Close the viewfinder: the loop stops and the camera is released. */
export function close(video) {
  run += 1;
  if (stream) for (const track of stream.getTracks()) track.stop();
  stream = null;
  if (video) video.srcObject = null;
}

/** Open the rear camera into `video`; null (and the camera released) when `wanted()` turned false
 * while the permission prompt was up. */
export async function rearCamera(video, wanted) {
  const s = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } },
    audio: false,
  });
  if (!wanted()) {
    for (const track of s.getTracks()) track.stop();
    return null;
  }
  video.srcObject = s;
  await video.play().catch(() => null);
  return s;
}

/** The crop of the picture in `video` drawn on `canvas`, as a JPEG blob (null before the first picture). */
export async function cropBlob(video, canvas) {
  const vw = video.videoWidth;
  const vh = video.videoHeight;
  if (!vw || !vh || video.readyState < 2) return null;
  const c = cropRect(vw, vh);
  canvas.width = c.ow;
  canvas.height = c.oh;
  const g = canvas.getContext("2d");
  g.imageSmoothingEnabled = true;
  g.imageSmoothingQuality = "high"; // a downscale that keeps thin bars (closest to the bench's area resize)
  g.drawImage(video, c.sx, c.sy, c.cw, c.ch, 0, 0, c.ow, c.oh);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", CROP.quality));
}

async function capture(video) {
  const t = performance.now();
  const blob = await cropBlob(video, canvas);
  if (!blob) return null;
  counter += 1;
  return { kind: "frame", id: `${prefix}-${counter}`, t, blob };
}

async function loop(me, video, onHint) {
  let last = -Infinity;
  while (me === run) {
    const gap = net.isOnline() ? LIVE_GAP_MS : OFFLINE_GAP_MS;
    const wait = Math.max(gap - (performance.now() - last), net.backoffUntil - performance.now(), 0);
    if (wait > 0) {
      await sleep(wait);
      continue;
    }
    if (net.isOnline() && net.pending()) {
      await sleep(100); // the waiting scans go first, in order
      continue;
    }
    last = performance.now();
    const frame = await capture(video);
    if (me !== run || !frame) continue;
    if (detector) {
      detector.detect(canvas).then((codes) => onHint(codes.length > 0), () => null);
    }
    await net.submit(frame); // live: after its answer; offline: queued at once
  }
}
