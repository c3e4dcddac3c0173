// The handheld's camera for an exit rescan: the rear camera in a panel over the queue, and the
// phone page's centre crop (/ui/phone/scanner.js cropBlob) sent to the box about three times a
// second, one request in flight, where the kiosk cameras' decoders and confirmation read it
// (POST /api/staff/frames). Each confirmed code goes to `onCode` once. A handheld with a built-in
// scanner types into the rescan's barcode field instead; both paths end in the same answer.
import { ApiError, authHeaders } from "/ui/common/api.js";
import { cropBlob, rearCamera } from "/ui/phone/scanner.js";

const GAP_MS = 300;
let run = 0;
let stream = null;
let counter = 0;

async function send(blob, id) {
  const res = await fetch("/api/staff/frames", {
    method: "POST",
    headers: { "Content-Type": blob.type || "image/jpeg", "X-Frame-Id": id, ...authHeaders() },
    body: blob,
    cache: "no-store",
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(res.status, e.code || `http_${res.status}`, e.message || res.statusText);
  }
  return data;
}

/** Open the rear camera into `video`; `onCode({text, gtin})` per confirmed code, `onError(err)` on a refusal. */
export async function openCamera(video, { onCode, onError }) {
  closeCamera(video);
  const me = ++run;
  const s = await rearCamera(video, () => me === run);
  if (!s) return;
  stream = s;
  const canvas = document.createElement("canvas");
  const prefix = Math.random().toString(36).slice(2, 8);
  while (me === run) {
    const started = performance.now();
    const blob = await cropBlob(video, canvas);
    if (blob && me === run) {
      try {
        const read = await send(blob, `${prefix}-${++counter}`);
        if (me === run) for (const code of read.codes) onCode(code);
      } catch (err) {
        if (!(err instanceof ApiError) || ![429, 503].includes(err.status)) onError(err);
      }
    }
    await new Promise((r) => setTimeout(r, Math.max(0, GAP_MS - (performance.now() - started))));
  }
}

/** Stop reading and release the camera. */
export function closeCamera(video) {
  run += 1;
  if (stream) for (const track of stream.getTracks()) track.stop();
  stream = null;
  if (video) video.srcObject = null;
}
