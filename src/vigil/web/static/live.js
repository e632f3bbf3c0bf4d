// Vigil live view: H.264 from /api/v1/live/stream into <video> elements through Media Source
// Extensions, MJPEG (or snapshots) where a camera cannot be sent as H.264 for this user.
// One HTTP stream carries every camera of a page (framed messages, see api/live_mse.py), so a
// 16-tile grid holds one connection. Pages: the camera page (#live-video beside #live) and
// the grid page (/live, body[data-page=live]).
"use strict";

const LIVE_MEDIA = 1, LIVE_RESET = 2, LIVE_END = 3;
const LIVE_MAX_LAG_S = 1.0;  // behind the newest frame by more than this: jump to it
const LIVE_TARGET_S = 0.15;  // kept behind the newest frame (its end), so playback never stalls
const LIVE_KEEP_S = 10;      // buffered video kept behind the playhead

// The codec string of an init segment ("avc1.PPCCLL" from its avcC box), or "" if not H.264.
function liveCodec(init) {
  for (let i = 4; i + 8 <= init.length; i++) {
    if (init[i] === 0x61 && init[i + 1] === 0x76 && init[i + 2] === 0x63 && init[i + 3] === 0x43) {
      const hex = (b) => b.toString(16).padStart(2, "0");
      return "avc1." + hex(init[i + 5]) + hex(init[i + 6]) + hex(init[i + 7]);
    }
  }
  return "";
}

// One camera's <video>, fed with fMP4 bytes; `onEnd(reason)` when it cannot go on.
class MsePlayer {
  constructor(video, onEnd) {
    this.video = video;
    this.onEnd = onEnd;
    this.ended = false;
    video.muted = true;
    video.playsInline = true;
    this.start();
  }

  start() {
    this.queue = [];
    this.buffer = null;
    this.lastTime = -1;
    this.movedAt = performance.now();
    this.source = new MediaSource();
    this.video.src = URL.createObjectURL(this.source);
  }

  media(bytes) {
    if (this.ended) return;
    this.queue.push(bytes);
    if (!this.buffer) {
      if (this.source.readyState !== "open") {
        this.source.addEventListener("sourceopen", () => this.media(new Uint8Array(0)), { once: true });
        return;
      }
      const init = this.queue.find((b) => b.length);
      const type = `video/mp4; codecs="${liveCodec(init)}"`;
      if (!MediaSource.isTypeSupported(type)) return this.end("this browser cannot play " + type);
      this.buffer = this.source.addSourceBuffer(type);
      this.buffer.mode = "segments";
      this.buffer.addEventListener("updateend", () => this.pump());
      this.buffer.addEventListener("error", () => this.end("the browser refused the stream"));
    }
    this.pump();
  }

  pump() {
    const b = this.buffer;
    if (!b || b.updating || this.ended) return;
    const v = this.video;
    if (v.buffered.length) {
      const edge = v.buffered.end(v.buffered.length - 1);
      const first = v.buffered.start(0);
      const lag = edge - v.currentTime, now = performance.now();
      if (Math.abs(v.currentTime - this.lastTime) >= 0.05) { this.lastTime = v.currentTime; this.movedAt = now; }
      // Far behind (a late joiner's GOP), or not moving with frames to play (Chromium can
      // sit on the first frame until a seek): jump near the newest frame. A little behind:
      // play faster until caught up.
      const stuck = lag > 2 * LIVE_TARGET_S && now - this.movedAt > 300;
      if (lag > LIVE_MAX_LAG_S || v.currentTime < first || stuck) {
        v.currentTime = Math.max(first, edge - LIVE_TARGET_S);
        this.movedAt = now;
      } else v.playbackRate = lag > 2 * LIVE_TARGET_S ? 1.15 : lag < LIVE_TARGET_S ? 1 : v.playbackRate;
      if (v.paused) v.play().catch(() => {});
      if (v.currentTime - first > 2 * LIVE_KEEP_S) return b.remove(first, v.currentTime - LIVE_KEEP_S);
    }
    let chunk = this.queue.shift();
    while (chunk && !chunk.length) chunk = this.queue.shift();
    if (!chunk) return;
    // Several fragments at once (a late joiner's GOP) go in one append.
    if (this.queue.length) {
      const all = [chunk, ...this.queue.splice(0)].filter((c) => c.length);
      const n = all.reduce((s, c) => s + c.length, 0);
      chunk = new Uint8Array(n);
      let at = 0;
      for (const c of all) { chunk.set(c, at); at += c.length; }
    }
    try { b.appendBuffer(chunk); } catch (e) { this.end("cannot buffer the stream: " + e.name); }
  }

  reset() {
    if (this.ended) return;
    URL.revokeObjectURL(this.video.src);
    this.start();
  }

  end(reason) {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(reason);
  }
}

// One HTTP stream for `tiles` ([{camera, video, onEnd}]); returns a function that stops it.
function liveStream(tiles) {
  const abort = new AbortController();
  const players = tiles.map((t) => new MsePlayer(t.video, t.onEnd));
  const endAll = (reason) => players.forEach((p) => p.end(reason));
  const q = tiles.map((t) => "camera=" + encodeURIComponent(t.camera)).join("&");
  (async () => {
    const r = await fetch("/api/v1/live/stream?" + q, { credentials: "same-origin", signal: abort.signal });
    if (!r.ok) {
      let why = r.statusText;
      try { why = (await r.json()).detail || why; } catch { /* not JSON */ }
      return endAll(why);
    }
    const reader = r.body.getReader();
    let buf = new Uint8Array(0);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const joined = new Uint8Array(buf.length + value.length);
      joined.set(buf); joined.set(value, buf.length);
      buf = joined;
      let at = 0;
      while (buf.length - at >= 6) {
        const dv = new DataView(buf.buffer, buf.byteOffset + at, 6);
        const kind = dv.getUint8(0), index = dv.getUint8(1), size = dv.getUint32(2);
        if (buf.length - at - 6 < size) break;
        const payload = buf.slice(at + 6, at + 6 + size);
        at += 6 + size;
        const p = players[index];
        if (!p) continue;
        if (kind === LIVE_MEDIA) p.media(payload);
        else if (kind === LIVE_RESET) p.reset();
        else if (kind === LIVE_END) p.end(new TextDecoder().decode(payload));
      }
      buf = buf.slice(at);
    }
    endAll("the live stream ended");
  })().catch((e) => { if (e.name !== "AbortError") endAll("the live stream failed: " + e.message); });
  return () => { players.forEach((p) => { p.ended = true; }); abort.abort(); };
}

// Which cameras this user may watch as H.264: {name: {mse, reason}}.
async function liveModes() {
  if (!window.MediaSource) return {};
  const r = await fetch("/api/v1/live/cameras", { credentials: "same-origin" });
  if (!r.ok) return {};
  return Object.fromEntries((await r.json()).map((c) => [c.name, c]));
}

const mjpegUrl = (cam) => `/api/v1/cameras/${encodeURIComponent(cam)}/live.mjpeg?t=${Date.now()}`;

// --- camera page: MJPEG at once, H.264 takes over when its first frame plays -------------

async function initCameraLive() {
  const img = document.querySelector("#live"), video = document.querySelector("#live-video");
  if (!img || !video) return;
  const cam = document.querySelector("#camera").dataset.camera;
  const mode = document.querySelector("#live-mode");
  const fallback = (why) => {
    video.hidden = true;
    img.hidden = false;
    if (!img.getAttribute("src")) img.src = mjpegUrl(cam);
    mode.textContent = "MJPEG" + (why ? ` (${why})` : "");
  };
  fallback("");
  const m = (await liveModes())[cam];
  if (!m || !m.mse) return fallback(m ? m.reason : "this browser has no Media Source Extensions");
  video.addEventListener("playing", () => {
    if (video.hidden === false) return;
    video.hidden = false;
    img.hidden = true;
    img.removeAttribute("src");  // closes the MJPEG stream
    mode.textContent = "H.264";
  }, { once: true });
  liveStream([{ camera: cam, video, onEnd: (why) => fallback(why) }]);
}

// --- grid page: 1, 4, 9 or 16 cameras, saved layouts, full screen ------------------------

function initLiveGrid() {
  const grid = document.querySelector("#live-grid"), size = document.querySelector("#grid-size");
  const saved = document.querySelector("#layout"), form = document.querySelector("#layout-form");
  const cameras = JSON.parse(grid.dataset.cameras);
  let layouts = [], stop = null, modes = {};
  let slots = cameras.slice(0, Number(size.value));
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  const call = (method, url, body) => fetch(url, {
    method, credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const msg = (text, ok) => { const m = form.querySelector(".msg"); m.textContent = text; m.className = "msg " + (ok ? "ok" : "bad"); };

  function tile(i) {
    const pick = document.createElement("select");
    pick.append(new Option("(empty)", ""), ...cameras.map((c) => new Option(c, c)));
    pick.value = slots[i] || "";
    pick.addEventListener("change", () => { slots[i] = pick.value || null; draw(); });
    const frame = document.createElement("div");
    frame.className = "frame live-tile";
    frame.dataset.camera = slots[i] || "";
    frame.title = "double-click: full screen";
    frame.addEventListener("dblclick", () => fullScreen(frame));
    const label = document.createElement("div");
    label.className = "tile-bar";
    const full = document.createElement("button");
    full.type = "button"; full.className = "link"; full.textContent = "⛶"; full.title = "full screen";
    full.addEventListener("click", () => fullScreen(frame));
    label.append(pick, full);
    const box = document.createElement("div");
    box.className = "tile";
    box.append(frame, label);
    return { box, frame };
  }

  function fullScreen(frame) {
    if (document.fullscreenElement) return document.exitFullscreen();
    frame.requestFullscreen?.().catch(() => {});
  }

  function draw() {
    if (stop) stop();
    stop = null;
    const n = Number(size.value);
    slots = Array.from({ length: n }, (_, i) => slots[i] ?? null);
    grid.style.setProperty("--cols", Math.sqrt(n));
    grid.replaceChildren();
    const streamed = [], fallbacks = [];
    slots.forEach((cam, i) => {
      const { box, frame } = tile(i);
      grid.append(box);
      if (!cam) return;
      const m = modes[cam];
      if (m && m.mse) streamed.push({ cam, frame });
      else fallbacks.push({ cam, frame, why: m ? m.reason : "" });
    });
    // MJPEG holds a connection per tile (six per site in HTTP/1.1): beyond four tiles,
    // refreshed snapshots instead.
    let mjpegs = 0;
    const still = (frame, cam, why) => {
      frame.querySelector("video")?.remove();
      const img = document.createElement("img");
      img.alt = cam;
      img.title = why;
      frame.classList.add("mjpeg");
      frame.append(img);
      if (mjpegs < 4) {
        mjpegs++;
        img.src = mjpegUrl(cam);
      } else {
        const load = () => { if (img.isConnected) img.src = `/api/v1/cameras/${encodeURIComponent(cam)}/snapshot.jpg?t=${Date.now()}`; };
        img.addEventListener("load", () => setTimeout(load, 500));
        img.addEventListener("error", () => setTimeout(load, 2000));
        load();
      }
      img.addEventListener("load", () => frame.classList.add("has-live"), { once: true });
    };
    fallbacks.forEach((f) => still(f.frame, f.cam, f.why));
    if (streamed.length) {
      stop = liveStream(streamed.map(({ cam, frame }) => {
        const video = document.createElement("video");
        video.autoplay = true;
        frame.append(video);
        video.addEventListener("playing", () => frame.classList.add("has-live"), { once: true });
        return { camera: cam, video, onEnd: (why) => still(frame, cam, why) };
      }));
    }
  }

  async function loadLayouts(select) {
    const r = await call("GET", "/api/v1/live/layouts");
    layouts = r.ok ? await r.json() : [];
    saved.replaceChildren(new Option("(unsaved)", ""), ...layouts.map((l) => new Option(l.name, l.id)));
    if (select !== undefined) saved.value = String(select);
  }

  function use(layout) {
    size.value = String(layout.grid);
    slots = layout.cameras.slice();
    form.name.value = layout.name;
    localStorage.setItem("vigil.live.layout", String(layout.id));
    draw();
  }

  size.addEventListener("change", draw);
  saved.addEventListener("change", () => {
    const l = layouts.find((x) => String(x.id) === saved.value);
    if (l) use(l); else localStorage.removeItem("vigil.live.layout");
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { name: form.name.value.trim(), grid: Number(size.value), cameras: slots };
    const current = layouts.find((x) => x.name === body.name);
    const r = current
      ? await call("PUT", `/api/v1/live/layouts/${current.id}`, body)
      : await call("POST", "/api/v1/live/layouts", body);
    if (!r.ok) { let t = r.statusText; try { t = (await r.json()).detail; } catch { /* */ } return msg(String(t)); }
    const l = await r.json();
    localStorage.setItem("vigil.live.layout", String(l.id));
    await loadLayouts(l.id);
    msg(`saved "${l.name}"`, true);
  });
  document.querySelector("#layout-delete").addEventListener("click", async () => {
    const l = layouts.find((x) => String(x.id) === saved.value);
    if (!l) return;
    const r = await call("DELETE", `/api/v1/live/layouts/${l.id}`);
    if (r.ok) { localStorage.removeItem("vigil.live.layout"); await loadLayouts(""); msg(`deleted "${l.name}"`, true); }
  });
  (async () => {
    modes = await liveModes();
    const last = localStorage.getItem("vigil.live.layout");
    await loadLayouts(last || "");
    const l = layouts.find((x) => String(x.id) === last);
    if (l) use(l); else draw();
  })();
}

document.addEventListener("DOMContentLoaded", () => {
  if (document.body.dataset.page === "camera") initCameraLive();
  if (document.body.dataset.page === "live") initLiveGrid();
});
