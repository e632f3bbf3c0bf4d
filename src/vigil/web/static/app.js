// Vigil web UI: small helpers over /api/v1; one init function per page (body[data-page]).
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const csrf = () => $('meta[name="csrf-token"]').content;

async function api(method, url, body) {
  const opts = { method, headers: { "X-CSRF-Token": csrf() }, credentials: "same-origin" };
  if (body instanceof FormData) opts.body = body;
  else if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers["Content-Type"] = "application/json";
  }
  const r = await fetch(url, opts);
  if (r.status === 401 && !url.includes("/auth/")) location.href = "/login?next=" + encodeURIComponent(location.pathname);
  return r;
}

async function errorText(r) {
  try { return (await r.json()).detail || r.statusText; } catch { return r.statusText; }
}

function say(form, text, ok = false) {
  const m = $(".msg", form);
  m.textContent = text;
  m.className = "msg " + (ok ? "ok" : "bad");
}

const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
};
const fmtTime = (iso) => new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "medium" });
const pct = (x) => (x * 100).toFixed(1) + "%";
// A confidence is an estimate: never shown as a flat 100% or 0% (as confidence_text in Python).
const confidence = (x) => (x > 0.999 ? ">99.9%" : x < 0.001 ? "<0.1%" : pct(x));

function eventItem(e) {
  const who = e.person ? `${e.person} (score ${e.score?.toFixed(3)}, confidence ${confidence(e.confidence ?? 0)})` : "";
  const li = el("li", { class: "event" });
  if (e.snapshot_url) li.append(el("img", { src: e.snapshot_url, alt: "snapshot", loading: "lazy" }));
  li.append(el("div", {},
    el("strong", {}, e.kind.replace("_", " ")), " · ", e.camera, " · ", fmtTime(e.start),
    e.verification ? el("span", { class: "badge " + (e.verification === "pending" ? "alert" : "detection") },
      e.verification === "pending" ? "to verify" : e.verification) : "",
    who ? el("div", {}, who) : "",
    el("a", { href: `/cameras/${e.camera}#t=${encodeURIComponent(e.start)}` }, "footage")));
  return li;
}

// --- login, set-up, password --------------------------------------------------------

function initLogin() {
  const f = $("#login-form");
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await api("POST", "/api/v1/auth/login", { username: f.username.value, password: f.password.value });
    if (!r.ok) return say(f, await errorText(r));
    const me = await r.json();
    location.href = me.user.must_change_password ? "/password" : sameSitePath(f.dataset.next);
  });
}

// The page after login: the server checked `next` already (pages.safe_next); checked again
// here, parsed, so only a path on this origin is followed (no backslashes, control
// characters or white space, which browsers turn into another site's address).
function sameSitePath(raw) {
  if (!raw || !raw.startsWith("/") || raw.startsWith("//") || /[\\\s\u0000-\u001f\u007f-\u009f]/.test(raw)) return "/";
  let u;
  try { u = new URL(raw, location.origin); } catch { return "/"; }
  return u.origin === location.origin ? u.pathname + u.search + u.hash : "/";
}

function initSetup() {
  const f = $("#setup-form");
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (f.password.value !== f.password2.value) return say(f, "the two passwords differ");
    const r = await api("POST", "/api/v1/auth/setup", { username: f.username.value, password: f.password.value, code: f.code.value.trim() });
    if (!r.ok) return say(f, await errorText(r));
    location.href = "/";
  });
}

function initPassword() {
  const f = $("#password-form");
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await api("POST", "/api/v1/auth/password", { current_password: f.current_password.value, new_password: f.new_password.value });
    if (!r.ok) return say(f, await errorText(r));
    location.href = "/";
  });
}

// --- dashboard: a refreshed snapshot per tile (MJPEG would hold one connection each) ---

function refreshSnapshot(img, every = 1000) {
  const tile = img.closest(".frame");
  const load = () => { img.src = img.dataset.src + "?t=" + Date.now(); };
  img.addEventListener("load", () => { tile.classList.add("has-live"); setTimeout(load, every); });
  img.addEventListener("error", () => { tile.classList.remove("has-live"); setTimeout(load, 3 * every); });
  load();
}

async function latestEvents(list, params = "limit=8") {
  const r = await api("GET", "/api/v1/events?" + params);
  list.replaceChildren();
  if (!r.ok) return list.append(el("li", { class: "muted" }, "cannot load events: " + await errorText(r)));
  const page = await r.json();
  if (!page.events.length) list.append(el("li", { class: "muted" }, "no events"));
  for (const e of page.events) list.append(eventItem(e));
  return page;
}

// The storage alarm (recording paused, who uses the disk): rendered with the page, then
// kept current from /api/v1/storage so it shows and clears without a reload (every 10 s;
// `window.vigilStoragePollMs` set before the page's scripts run overrides it, as tests do).
function watchStorage(banner, every = window.vigilStoragePollMs || 10000) {
  const check = async () => {
    try {
      const r = await api("GET", "/api/v1/storage");
      if (r.ok) {
        const s = await r.json();
        $(".reason", banner).textContent = s.reason;
        banner.hidden = !s.alarm;
      }
    } catch { /* offline for a moment: keep what is shown */ }
    setTimeout(check, every);
  };
  setTimeout(check, every);
}

function initDashboard() {
  const banner = $("#storage-alarm");
  if (banner) watchStorage(banner);
  document.querySelectorAll("img.live-snap").forEach((img) => refreshSnapshot(img));
  latestEvents($("#latest-events"));
}

// --- camera page: live view, time line (zoom, thumbnails, playback), export ------------------

function initCamera() {
  const cam = $("#camera").dataset.camera;
  const live = $("#live"), liveFrame = live.closest(".frame");
  // A multipart image fires "load" once, for its first frame, which may have come before this
  // script ran: look at the picture itself too. A stream that fails is asked for again.
  const showLive = () => liveFrame.classList.add("has-live");
  live.addEventListener("load", showLive);
  live.addEventListener("error", () => {
    liveFrame.classList.remove("has-live");
    setTimeout(() => { live.src = `/api/v1/cameras/${cam}/live.mjpeg?t=${Date.now()}`; }, 3000);
  });
  setInterval(() => { if (live.naturalWidth > 0) showLive(); }, 500);
  // The time line: a window [v0, v1] (ms) that zooms from 7 days down to 10 s and pans,
  // drawn in SVG (viewBox 1000 x 56): review items, event ticks, recorded spans with their
  // gaps and lost footage, motion. Hovering shows a thumbnail of the footage there.
  const svg = $("#timeline"), player = $("#player"), info = $("#playing");
  const NS = "http://www.w3.org/2000/svg", W = 1000, H = 56;
  const MIN_SPAN = 10e3, MAX_SPAN = 7 * 86400e3, DAY = 86400e3;
  const fps = Number($("#camera").dataset.fps) || 25;
  let v1 = Date.now(), v0 = v1 - DAY;
  let data = null, fetched = [0, 0], fetchSeq = 0;
  const known = new Map(); // segment id -> segment, from every window fetched
  let segments = [], marks = [], selection = null;
  // The recorded file a segment plays from: as the server said, until the privacy view says
  // otherwise (the plain file while unmasked, the pixelated rendition otherwise).
  let unmaskedView = null;
  const viewUrl = (u) => (unmaskedView === null ? u : u.replace(/(\/protected)?\.mp4$/, unmaskedView ? ".mp4" : "/protected.mp4"));
  const x = (t) => ((t - v0) / (v1 - v0)) * W;
  const tAt = (clientX) => { const b = svg.getBoundingClientRect(); return v0 + ((clientX - b.left) / b.width) * (v1 - v0); };
  const ms = (iso) => new Date(iso).getTime();
  function rect(cls, t0, t1, y, h, minW = 0) {
    let a = x(t0), w = Math.max(minW, x(t1) - a);
    if (a + w < -5 || a > W + 5) return null;
    if (a < -5) { w -= -5 - a; a = -5; }
    w = Math.min(w, W + 10 - a);
    const r = document.createElementNS(NS, "rect");
    Object.entries({ x: Math.min(a, W - w), y, width: w, height: h, class: cls }).forEach(([k, v]) => r.setAttribute(k, v));
    svg.append(r);
    return r;
  }
  const titled = (r, text) => { if (r) r.append(Object.assign(document.createElementNS(NS, "title"), { textContent: text })); return r; };
  const head = document.createElementNS(NS, "rect");
  Object.entries({ class: "tl-head", x: -10, y: 0, width: 2, height: H }).forEach(([k, v]) => head.setAttribute(k, v));
  let headT = null;

  const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000);
  function drawTicks() {
    const span = v1 - v0, step = STEPS.find((s) => span / s <= 8) || DAY;
    const tz = new Date(v0).getTimezoneOffset() * 60e3; // ticks fall on local round times
    const opts = step < 60e3 ? { hour: "2-digit", minute: "2-digit", second: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
    const ticks = $("#ticks");
    ticks.replaceChildren();
    for (let t = Math.ceil((v0 - tz) / step) * step + tz; t <= v1; t += step) {
      const d = new Date(t);
      const label = step >= DAY || (span > DAY && d.getHours() === 0 && d.getMinutes() === 0)
        ? d.toLocaleDateString([], { day: "numeric", month: "short" }) : d.toLocaleTimeString([], opts);
      ticks.append(el("span", { style: `left:${((t - v0) / span) * 100}%` }, label));
    }
    const fmt = (t) => new Date(t).toLocaleString([], { dateStyle: "short", timeStyle: step < 60e3 ? "medium" : "short" });
    $("#tl-range").textContent = `${fmt(v0)} – ${fmt(v1)}`;
    svg.dataset.start = new Date(v0).toISOString();
    svg.dataset.end = new Date(v1).toISOString();
  }

  function draw() {
    svg.replaceChildren();
    rect("tl-bg", v0, v1, 16, 28);
    drawTicks();
    if (data) {
      for (const g of data.gaps) titled(rect("tl-gap", ms(g.start), ms(g.end), 16, 28), `no recording ${fmtTime(g.start)} – ${fmtTime(g.end)}`);
      for (const s of data.spans) {
        const r = rect("tl-span", ms(s.start), ms(s.end), 16, 28, 3); // thin spans stay visible
        if (r) r.dataset.start = s.start;
      }
      // Footage lost after it was recorded (file gone or damaged), until acknowledged: red.
      for (const lo of data.lost) {
        const r = titled(rect(`tl-lost tl-${lo.kind}`, ms(lo.start), ms(lo.end), 16, 28, 2), `${lo.kind} ${fmtTime(lo.start)}: ${lo.path} (${lo.detail})`);
        if (r) { r.dataset.kind = lo.kind; r.dataset.start = lo.start; }
      }
      for (const mo of data.motion) {
        const r = rect("tl-motion", ms(mo.start), mo.end ? ms(mo.end) : Date.now(), 46, 8, 1.5);
        if (r) r.dataset.start = mo.start;
      }
      for (const it of data.review) {
        const r = titled(rect(`tl-review tl-${it.severity}`, ms(it.start), it.end ? ms(it.end) : Date.now(), 0, 7, 2),
          `${it.severity}: ${Object.entries(it.objects).map(([k, n]) => `${n} ${k.replace("_", " ")}`).join(", ")} ${fmtTime(it.start)}`);
        if (r) r.dataset.id = it.id;
      }
      for (const e of data.events) {
        const t = ms(e.start), r = titled(rect("tl-event", t, t, 8, 8, 1.5), `${e.kind} ${fmtTime(e.start)}`);
        if (r) r.dataset.kind = e.kind;
      }
    }
    if (selection) rect("tl-sel", selection[0], selection[1], 0, H, 1);
    svg.append(head);
    moveHead();
  }
  function moveHead() { head.setAttribute("x", headT === null ? -10 : x(headT) - 1); }

  function showInfo() {
    const total = data.spans.reduce((n, s) => n + (ms(s.end) - ms(s.start)), 0);
    const i = $("#timeline-info");
    i.textContent = data.spans.length
      ? `${data.spans.length} recorded span(s), ${(total / 60e3).toFixed(1)} min; last ends ${fmtTime(data.spans.at(-1).end)}`
      : "nothing recorded in this stretch";
    i.textContent += ` · ${data.motion.length} motion span(s), ${data.events.length} event(s), ${data.review.length} review item(s)`;
    if (data.lost.length) {
      const n = (k) => data.lost.filter((l) => l.kind === k).length;
      i.append(el("span", { class: "err", id: "timeline-lost" }, ` · lost footage: ${n("missing")} missing, ${n("damaged")} damaged segment(s)`));
    }
  }

  // The window fetched is the one shown and half of it either side, so panning draws at once.
  async function fetchTimeline(a, b) {
    const q = `start=${encodeURIComponent(new Date(a).toISOString())}&end=${encodeURIComponent(new Date(b).toISOString())}`;
    const r = await api("GET", `/api/v1/cameras/${cam}/timeline?${q}`);
    if (!r.ok) { $("#timeline-info").textContent = await errorText(r); return null; }
    const tl = await r.json();
    for (const s of tl.segments) {
      const seg = known.get(s.id) || {};
      known.set(s.id, Object.assign(seg, s, { t0: ms(s.start), t1: ms(s.end), url: viewUrl(s.url) }));
    }
    segments = [...known.values()].sort((p, q2) => p.t0 - q2.t0);
    return tl;
  }
  async function fetchWindow(a, b) {
    const seq = ++fetchSeq, tl = await fetchTimeline(a, b);
    if (!tl || seq !== fetchSeq) return false;
    data = tl;
    fetched = [a, b];
    marks = [...new Set([...data.events, ...data.review].map((e) => ms(e.start)))].sort((p, q2) => p - q2);
    showInfo();
    draw();
    return true;
  }
  let fetchTimer = null;
  function changed() {
    draw();
    const span = v1 - v0;
    if (v0 >= fetched[0] && v1 <= fetched[1] && fetched[1] - fetched[0] <= span * 4) return;
    clearTimeout(fetchTimer);
    fetchTimer = setTimeout(() => {
      const pad = Math.min(span / 2, (MAX_SPAN - span) / 2);
      fetchWindow(v0 - pad, v1 + pad);
    }, 150);
  }
  function setView(a, b) {
    const span = Math.min(MAX_SPAN, Math.max(MIN_SPAN, b - a)), mid = (a + b) / 2;
    v0 = b - a === span ? a : mid - span / 2;
    v1 = v0 + span;
    changed();
  }
  function zoom(factor, at) {
    at = at ?? (headT !== null && headT > v0 && headT < v1 ? headT : (v0 + v1) / 2);
    const span = Math.min(MAX_SPAN, Math.max(MIN_SPAN, (v1 - v0) * factor)), k = span / (v1 - v0);
    setView(at - (at - v0) * k, at - (at - v0) * k + span);
  }
  const pan = (fraction) => setView(v0 + (v1 - v0) * fraction, v1 + (v1 - v0) * fraction);
  const button = (sel, fn) => $(sel).addEventListener("click", (ev) => { ev.currentTarget.blur(); fn(); }); // keys stay ours
  button("#tl-zoom-in", () => zoom(1 / 2));
  button("#tl-zoom-out", () => zoom(2));
  button("#tl-back", () => pan(-0.5));
  button("#tl-fwd", () => pan(0.5));
  button("#tl-day", () => { const now = Date.now(); setView(now - DAY, now); });
  svg.addEventListener("wheel", (ev) => { ev.preventDefault(); zoom(ev.deltaY > 0 ? 1.5 : 1 / 1.5, tAt(ev.clientX)); }, { passive: false });

  // Drag pans, shift+drag selects a range (for an export), a click plays from there.
  let drag = null;
  svg.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    svg.setPointerCapture(ev.pointerId);
    drag = { x: ev.clientX, t: tAt(ev.clientX), v0, v1, select: ev.shiftKey, moved: false };
  });
  svg.addEventListener("pointermove", (ev) => {
    if (!drag) return hover(ev);
    if (Math.abs(ev.clientX - drag.x) > 3) drag.moved = true;
    if (!drag.moved) return;
    if (drag.select) {
      const t = tAt(ev.clientX);
      selection = [Math.min(t, drag.t), Math.max(t, drag.t)];
      draw();
    } else {
      const dt = ((ev.clientX - drag.x) / svg.getBoundingClientRect().width) * (drag.v1 - drag.v0);
      v0 = drag.v0 - dt; v1 = drag.v1 - dt;
      changed();
    }
  });
  svg.addEventListener("pointerup", (ev) => {
    const d = drag;
    drag = null;
    if (!d) return;
    if (!d.moved) playAt(tAt(ev.clientX));
    else if (d.select && selection) selected();
  });

  const thumb = $("#tl-thumb"), thumbImg = $("img", thumb), thumbTime = $("span", thumb);
  let thumbTimer = null;
  function hover(ev) {
    const t = tAt(ev.clientX), seg = segments.find((s) => s.t0 <= t && t < s.t1);
    const wrap = svg.parentElement.getBoundingClientRect();
    thumb.style.left = `${Math.min(Math.max(0, ev.clientX - wrap.left - 84), wrap.width - 172)}px`;
    thumbTime.textContent = new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    thumb.hidden = false;
    thumb.classList.toggle("no-footage", !seg);
    clearTimeout(thumbTimer);
    if (!seg) return;
    // Asked for only once the pointer rests a moment; the server keeps one per keyframe.
    thumbTimer = setTimeout(() => {
      const url = `/api/v1/cameras/${cam}/thumbnail?t=${encodeURIComponent(new Date(Math.floor(t / 500) * 500).toISOString())}`;
      if (thumbImg.getAttribute("src") !== url) thumbImg.src = url;
    }, 80);
  }
  svg.addEventListener("pointerleave", () => { if (!drag) { clearTimeout(thumbTimer); thumb.hidden = true; } });

  // Playback: the segment holding t, seeking into it; at its end the next one plays on.
  let current = null;
  const wallNow = () => current && current.t0 + ((current.base || 0) + player.currentTime) * 1000;
  function playAt(t, note = "") {
    // The segment holding t, else the nearest one within 10 minutes (spans are thin at 24 h).
    let seg = segments.find((s) => s.t0 <= t && t < s.t1);
    if (!seg) {
      const near = segments.map((s) => [Math.min(Math.abs(s.t0 - t), Math.abs(s.t1 - t)), s]).sort((a, b) => a[0] - b[0])[0];
      if (!near || near[0] > 600e3) { info.textContent = "no footage at " + fmtTime(t); return; }
      seg = near[1];
      t = t < seg.t0 ? seg.t0 : seg.t1 - 1000;
    }
    current = seg;
    const offset = Math.max(0, (t - seg.t0) / 1000);
    seg.base = 0; // seconds into the segment of the player's time 0
    player.src = seg.url;
    player.dataset.segment = seg.id;
    player.addEventListener("loadedmetadata", () => {
      // A pixelated copy still being made streams unseekable: ask for one from the offset.
      const s = player.seekable, protectedCopy = /\/protected\.mp4$/.test(seg.url);
      if (protectedCopy && offset >= 1 && !(s.length && s.end(s.length - 1) >= offset - 0.5)) {
        seg.base = Math.floor(offset);
        player.src = `${seg.url}?from=${seg.base}`;
      } else player.currentTime = offset;
      player.playbackRate = speed();
      player.play().catch(() => {});
    }, { once: true });
    info.textContent = `playing from ${fmtTime(t)}${note}`;
    headT = t;
    moveHead();
    prefillExport(new Date(t));
  }
  player.addEventListener("timeupdate", () => {
    if (!current) return;
    const wasShown = headT !== null && headT >= v0 && headT <= v1;
    headT = wallNow();
    const t = new Date(headT);
    moveHead();
    info.textContent = "playing " + fmtTime(t);
    player.dataset.wallTime = t.toISOString();
    // Playing past the right edge turns the page (not when the viewer has looked elsewhere).
    if (wasShown && !player.paused && !drag && headT > v1) setView(headT - (v1 - v0) * 0.1, headT + (v1 - v0) * 0.9);
  });
  // A pixelated copy refused while the box makes as many as it may (503): try again shortly.
  let retries = 0;
  player.addEventListener("playing", () => { retries = 0; });
  player.addEventListener("error", () => {
    if (!/\/protected\.mp4/.test(player.currentSrc) || retries >= 6) {
      info.textContent = "cannot play this recording now";
      return;
    }
    retries += 1;
    info.textContent = "busy making pixelated copies, retrying…";
    const src = player.currentSrc;
    setTimeout(() => { if (player.currentSrc === src) player.src = src; }, 5000);
  });
  // The next segment after `seg`, from those known, else from the next hour's time line.
  async function segmentAfter(seg) {
    const after = () => segments.find((s) => s.t0 >= seg.t1 - 2000 && s.id !== seg.id && s.t0 > seg.t0);
    if (after()) return after();
    await fetchTimeline(seg.t1 - 1000, seg.t1 + 3600e3); // its segments only: the view stays
    return after();
  }
  player.addEventListener("ended", async () => {
    if (!current) return;
    const from = current, nxt = await segmentAfter(from);
    if (current !== from) return; // the viewer went elsewhere meanwhile
    if (!nxt) { info.textContent = "end of the recording"; return; }
    const gap = (nxt.t0 - from.t1) / 1000;
    playAt(nxt.t0, gap > 2 ? ` (skipped ${gap.toFixed(0)} s without recording)` : "");
  });

  // Speed, and the keys: space play/pause, , . a frame (paused) or a second (playing) back or
  // on, [ ] or p n the previous or next event or review item, + - zoom.
  const speedSel = $("#speed");
  const speed = () => Number(speedSel.value) || 1;
  speedSel.addEventListener("change", () => { player.playbackRate = player.defaultPlaybackRate = speed(); speedSel.blur(); });
  function step(dir) {
    if (!current) return;
    const dt = player.paused ? 1 / fps : 1;
    const to = player.currentTime + dir * dt;
    if (to >= 0 && (!Number.isFinite(player.duration) || to < player.duration)) player.currentTime = to;
    else playAt(wallNow() + dir * dt * 1000);
  }
  function jumpMark(dir) {
    const now = wallNow() ?? headT ?? (v0 + v1) / 2;
    const t = dir > 0 ? marks.find((m) => m > now + 500) : marks.filter((m) => m < now - 700).at(-1);
    if (t === undefined) { info.textContent = `no ${dir > 0 ? "later" : "earlier"} event in this stretch`; return; }
    if (t < v0 || t > v1) setView(t - (v1 - v0) / 2, t + (v1 - v0) / 2);
    playAt(t);
  }
  document.addEventListener("keydown", (ev) => {
    if (ev.target.closest("input, select, textarea, button, a") || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const act = {
      " ": () => { if (!current) return; if (player.paused) player.play().catch(() => {}); else player.pause(); },
      ",": () => step(-1), ".": () => step(1),
      "[": () => jumpMark(-1), "p": () => jumpMark(-1), "]": () => jumpMark(1), "n": () => jumpMark(1),
      "+": () => zoom(1 / 2), "=": () => zoom(1 / 2), "-": () => zoom(2),
      "Escape": () => { selection = null; draw(); },
    }[ev.key];
    if (!act) return;
    ev.preventDefault();
    act();
  });

  async function load() {
    const pad = DAY / 2;
    await fetchWindow(v0 - pad, v1 + pad);
    const m = location.hash.match(/^#t=(.+)$/);
    if (m) {
      const t = ms(decodeURIComponent(m[1]));
      setView(t - 15 * 60e3, t + 15 * 60e3); // an event's footage: a half hour around it
      await fetchWindow(v0 - 15 * 60e3, v1 + 15 * 60e3);
      playAt(t);
    }
  }

  // Privacy-protected view: people pixelated for this role until revealed (reason, audited).
  const badge = $("#privacy-badge"), unmask = $("#unmask-form");
  let unmaskTimer = null;
  function showView(v) {
    $("#privacy-view").hidden = !v.protected_role;
    if (!v.protected_role) return;
    const until = v.unmasked_until && new Date(v.unmasked_until);
    badge.textContent = until ? `unmasked until ${until.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}` : "people pixelated";
    badge.className = "state " + (until ? "state-offline" : "state-online");
    $("#privacy-note").textContent = until ? "plain view for this session; revealing was audited with your reason"
      : v.can_unmask ? "you may reveal people for a stated reason" : "";
    unmask.hidden = !(v.can_unmask && v.protected);
    // Recorded segments: the plain file while unmasked, the pixelated rendition otherwise.
    unmaskedView = !!until;
    for (const s of segments) s.url = viewUrl(s.url);
    clearTimeout(unmaskTimer);
    if (until) unmaskTimer = setTimeout(loadView, Math.max(1000, until - Date.now() + 500));
  }
  async function loadView() {
    const r = await api("GET", `/api/v1/cameras/${cam}/view`);
    if (r.ok) showView(await r.json());
  }
  unmask.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await api("POST", `/api/v1/cameras/${cam}/unmask`, { reason: unmask.reason.value });
    if (!r.ok) return say(unmask, await errorText(r));
    say(unmask, "", true);
    unmask.reset();
    showView(await r.json());
  });

  const f = $("#export-form");
  const local = (d) => new Date(d - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 19);
  function prefillExport(t) {
    if (!f || selection) return;
    f.start.value = local(t);
    f.end.value = local(new Date(t.getTime() + 30e3));
  }
  // A range selected on the time line (shift+drag) fills the export form, whole seconds.
  function selected() {
    const [a, b] = [Math.floor(selection[0] / 1000) * 1000, Math.ceil(selection[1] / 1000) * 1000];
    info.textContent = `selected ${((b - a) / 1000).toFixed(0)} s from ${fmtTime(a)} (Esc clears)`;
    if (!f) return;
    f.start.value = local(new Date(a));
    f.end.value = local(new Date(b));
    say(f, "range selected on the time line: give a reason, then export", true);
    f.scrollIntoView({ block: "nearest" });
    f.reason.focus();
  }
  // The export is a ZIP: the clip (redacted unless unticked) and its signed manifest.json.
  if (f && f.subject) api("GET", "/api/v1/people").then(async (r) => {
    if (!r.ok) return;
    for (const p of await r.json()) f.subject.append(el("option", { value: String(p.id) }, p.name));
  });
  if (f) f.redact.addEventListener("change", () => { if (f.subject) f.subject.disabled = !f.redact.checked; });
  // The export runs as a job on the server: poll it for progress, then offer the download.
  if (f) f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const box = $(".export-job", f), bar = $("progress", box), link = $(".export-download", box);
    const body = { start: new Date(f.start.value).toISOString(), end: new Date(f.end.value).toISOString(), reason: f.reason.value, exact: f.exact.checked, redact: f.redact.checked };
    if (f.redact.checked && f.subject && f.subject.value) body.subject_person_id = Number(f.subject.value);
    const button = $("button[type=submit]", f);
    button.disabled = true;
    link.hidden = true;
    try {
      let r = await api("POST", `/api/v1/cameras/${cam}/export`, body);
      if (!r.ok) return say(f, await errorText(r));
      let job = await r.json();
      box.hidden = false;
      while (job.state === "queued" || job.state === "running") {
        bar.value = job.progress;
        say(f, job.state === "queued" ? "waiting for another export to finish…"
          : `${job.redacted ? "exporting and pixelating faces" : "exporting"}: ${pct(job.progress)}`, true);
        await new Promise((ok) => setTimeout(ok, 1000));
        r = await api("GET", job.url);
        if (!r.ok) return say(f, await errorText(r));
        job = await r.json();
      }
      if (job.state !== "done") { box.hidden = true; return say(f, "export failed: " + job.error); }
      bar.value = 1;
      Object.assign(link, { href: job.download_url, download: job.filename, textContent: `download ${job.filename}`, hidden: false });
      const how = job.redacted ? "redacted" : "unredacted";
      const short = job.footage && !job.footage.complete
        ? ` INCOMPLETE: ${job.footage.footage_s.toFixed(1)} of ${job.footage.requested_s.toFixed(1)} s; ${job.footage.warnings.join("; ")} (the manifest says so too)`
        : "";
      say(f, `exported ${job.filename} (${how}, ${(job.bytes / 1024).toFixed(0)} KiB, kept until ${fmtTime(job.expires_at)}; check it with: vigil export verify ${job.filename})${short}`, !short);
    } finally {
      button.disabled = false;
    }
  });
  load().then(loadView);
}

// --- events ------------------------------------------------------------------------------

function initEvents() {
  const f = $("#events-filter"), list = $("#events-list"), more = $("#events-more");
  // /events?camera=..&since=..&until=.. (a review item's events): that camera and span
  const q = new URLSearchParams(location.search);
  if (q.get("camera")) f.camera.value = q.get("camera");
  const span = q.get("since") && q.get("until") ? { since: q.get("since"), until: q.get("until") } : null;
  if (span) f.after(el("p", { class: "muted", id: "events-span" },
    `from ${fmtTime(span.since)} to ${fmtTime(span.until)} · `, el("a", { href: "/events" }, "all events")));
  let cursor = null;
  async function show(append) {
    const p = new URLSearchParams({ limit: "30", ...(span || {}) });
    if (f.camera.value) p.set("camera", f.camera.value);
    if (f.kind.value) p.set("kind", f.kind.value);
    if (f.reason.value.trim()) p.set("reason", f.reason.value.trim());  // needed for known_person
    if (append && cursor) p.set("cursor", cursor);
    const r = await api("GET", "/api/v1/events?" + p);
    if (!append) list.replaceChildren();
    if (!r.ok) return list.append(el("li", {}, await errorText(r)));
    const page = await r.json();
    for (const e of page.events) list.append(eventItem(e));
    if (!append && !page.events.length) list.append(el("li", { class: "muted" }, "no events"));
    cursor = page.next_cursor; more.hidden = !cursor;
  }
  f.addEventListener("submit", (ev) => { ev.preventDefault(); show(false); });
  more.addEventListener("click", () => show(true));
  if ($("#verify")) initVerify();
  show(false).then(() => liveEvents(list, (e) => {
    if (e.verification === "pending" && $("#verify")) initVerify.refresh?.();
    return !span &&
    (!f.camera.value || e.camera === f.camera.value) && (!f.kind.value || e.kind === f.kind.value);
  }));
}

// Matches waiting for people to confirm them: each verdict needs a reason (audited).
function initVerify() {
  const list = $("#verify-list"), count = $("#verify-count");
  async function refresh() {
    const r = await api("GET", "/api/v1/verifications?limit=50");
    list.replaceChildren();
    if (!r.ok) return list.append(el("li", {}, await errorText(r)));
    const page = await r.json();
    count.textContent = page.total;
    count.hidden = !page.total;
    if (!page.events.length) list.append(el("li", { class: "muted" }, "nothing to verify"));
    for (const e of page.events) {
      const li = eventItem(e);
      const reason = el("input", { maxlength: "500", placeholder: "what you checked (required)", "aria-label": "reason" });
      const msg = el("span", { class: "msg", role: "alert" });
      const send = (verdict) => async () => {
        const r = await api("POST", `/api/v1/events/${e.uid}/verification`, { verdict, reason: reason.value.trim() });
        if (!r.ok) { msg.textContent = await errorText(r); msg.className = "msg bad"; return; }
        refresh();
      };
      li.append(el("div", { class: "row verdict" }, reason,
        el("button", { type: "button", onclick: send("confirm") }, "Confirm"),
        el("button", { type: "button", class: "danger", onclick: send("reject") }, "Reject: not this person"), msg));
      list.append(li);
    }
  }
  initVerify.refresh = refresh;
  refresh();
}

// --- review ------------------------------------------------------------------------------

function reviewItem(item, onReviewed) {
  const counts = Object.entries(item.objects).map(([k, n]) => `${n} ${k.replace("_", " ")}`).join(", ");
  const span = fmtTime(item.start) + " – " + (item.end ? fmtTime(item.end) : "ongoing");
  const li = el("li", { class: "event review-item" + (item.reviewed ? " reviewed" : ""), "data-id": item.id });
  li.append(item.snapshot_url ? el("img", { src: item.snapshot_url, alt: "best snapshot", loading: "lazy" })
    : el("span", { class: "noshot muted" }, "no snapshot"));
  const mark = el("button", { type: "button", class: "mark" }, item.reviewed ? "Reviewed ✓" : "Mark reviewed");
  mark.disabled = item.reviewed;
  mark.addEventListener("click", async () => {
    mark.disabled = true;
    const r = await api("POST", `/api/v1/review/${item.id}/reviewed`);
    if (!r.ok) { mark.disabled = false; mark.textContent = await errorText(r); return; }
    mark.textContent = "Reviewed ✓";
    li.classList.add("reviewed");
    onReviewed(li);
  });
  li.append(el("div", { class: "grow" },
    el("span", { class: "badge " + item.severity }, item.severity), " ",
    el("strong", {}, item.camera), " · ", span, item.active ? " · active" : "",
    el("div", {}, counts),
    el("a", { href: item.events_url }, "events"), " · ",
    el("a", { href: `/cameras/${item.camera}#t=${encodeURIComponent(item.start)}` }, "footage")), mark);
  return li;
}

function initReview() {
  const f = $("#review-filter"), list = $("#review-list"), more = $("#review-more");
  let cursor = null;
  async function show(append) {
    const p = new URLSearchParams({ limit: "30" });
    if (f.camera.value) p.set("camera", f.camera.value);
    if (f.severity.value) p.set("severity", f.severity.value);
    if (f.unreviewed.checked) p.set("reviewed", "false");
    if (append && cursor) p.set("cursor", cursor);
    const r = await api("GET", "/api/v1/review?" + p);
    if (!append) list.replaceChildren();
    if (!r.ok) return list.append(el("li", {}, await errorText(r)));
    const page = await r.json();
    // a reviewed item leaves a list of unreviewed ones (after a moment, so the click shows)
    const gone = (li) => { if (f.unreviewed.checked) setTimeout(() => li.remove(), 800); };
    for (const item of page.items) list.append(reviewItem(item, gone));
    if (!append && !page.items.length) list.append(el("li", { class: "muted" }, "nothing to review"));
    cursor = page.next_cursor; more.hidden = !cursor;
  }
  f.addEventListener("submit", (ev) => { ev.preventDefault(); show(false); });
  more.addEventListener("click", () => show(true));
  show(false);
}

function liveEvents(list, wanted) {
  // New events arrive over server-sent events and go on top of the list.
  const dot = $("#events-live");
  const src = new EventSource("/api/v1/events/stream");
  src.addEventListener("open", () => { dot.textContent = "live"; dot.classList.add("on"); });
  src.addEventListener("error", () => { dot.textContent = "reconnecting…"; dot.classList.remove("on"); });
  src.addEventListener("event", (m) => {
    const e = JSON.parse(m.data);
    if (!wanted(e)) return;
    const empty = list.querySelector("li.muted");
    if (empty) empty.remove();
    const li = eventItem(e);
    li.classList.add("new");
    li.dataset.uid = e.uid;
    list.prepend(li);
  });
  window.addEventListener("pagehide", () => src.close());
  return src;
}

// --- people ------------------------------------------------------------------------------

function qualityItem(q) {
  const text = q.ok ? `good (quality ${(q.score * 100).toFixed(0)}, face ${q.face_px} px)` : q.problems.join("; ");
  return el("li", { class: q.ok ? "ok" : "bad" }, q.file + ": " + text);
}

// Photos are judged (face, size, sharpness, pose) as soon as they are picked, before enrolling.
// Checking processes faces: it needs the form's reason (audited), and runs again when it changes.
function checkPhotosWhenPicked(input, quality, url) {
  const reason = input.form.reason;
  async function check() {
    if (!input.files.length) return;
    if (reason.value.trim().length < 3) {
      return quality.replaceChildren(el("li", { class: "muted" }, "state a reason to check the photos (it is audited)"));
    }
    quality.replaceChildren(el("li", { class: "muted" }, "checking photos…"));
    const fd = new FormData();
    for (const file of input.files) fd.append("photos", file);
    fd.append("reason", reason.value.trim());
    const r = await api("POST", url, fd);
    quality.replaceChildren();
    if (!r.ok) return quality.append(el("li", { class: "bad" }, await errorText(r)));
    for (const q of (await r.json()).photos) quality.append(qualityItem(q));
  }
  input.addEventListener("change", check);
  reason.addEventListener("change", check);
}

function initPeople() {
  const f = $("#enrol-form"), list = $("#people-list"), quality = $("#quality");
  async function refresh() {
    const r = await api("GET", "/api/v1/people");
    list.replaceChildren();
    if (!r.ok) return list.append(el("tr", {}, el("td", {}, await errorText(r))));
    const people = await r.json();
    if (!people.length) list.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "nobody is enrolled")));
    for (const p of people) {
      const del = el("button", { type: "button", class: "danger", onclick: async () => {
        const why = prompt(`Remove ${p.name} and every template? Reason (required, audited):`);
        if (why === null) return;
        const r2 = await api("DELETE", `/api/v1/people/${p.id}?` + new URLSearchParams({ reason: why.trim() }));
        if (!r2.ok) alert(await errorText(r2)); refresh();
      } }, "Remove");
      const withdraw = el("button", { type: "button", class: "danger", onclick: async () => {
        const why = prompt(`${p.name} withdraws consent: remove them and every template now. How was consent withdrawn? (required, audited)`);
        if (why === null) return;
        const fd = new FormData(); fd.append("reason", why.trim());
        const r2 = await api("POST", `/api/v1/people/${p.id}/withdraw`, fd);
        if (!r2.ok) alert(await errorText(r2)); refresh();
      } }, "Consent withdrawn");
      list.append(el("tr", {}, el("td", {}, p.name), el("td", {}, p.templates), el("td", {}, p.legal_bases.join(", ")),
        el("td", {}, `${fmtTime(p.enrolled_at)} by ${p.enrolled_by}`), el("td", {}, del, " ", withdraw)));
    }
  }
  checkPhotosWhenPicked(f.photos, quality, "/api/v1/people/check");
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    say(f, "enrolling…", true);
    const r = await api("POST", "/api/v1/people", new FormData(f));
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      if (body.photos) { quality.replaceChildren(); body.photos.forEach((q) => quality.append(qualityItem(q))); }
      return say(f, body.detail || r.statusText);
    }
    say(f, `enrolled ${body.person.name}: ${body.added} template(s) added`, true);
    f.reset(); quality.replaceChildren();
    refresh();
  });
  refresh();
  initObjections();
  initWatchlists();
}

function initObjections() {
  const f = $("#objection-form"), list = $("#objection-list");
  async function refresh() {
    const r = await api("GET", "/api/v1/objections");
    list.replaceChildren();
    if (!r.ok) return list.append(el("tr", {}, el("td", {}, await errorText(r))));
    const rows = await r.json();
    if (!rows.length) list.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "no objections are recorded")));
    for (const o of rows) list.append(el("tr", {}, el("td", {}, fmtTime(o.recorded_at)), el("td", {}, o.recorded_by),
      el("td", {}, o.reference || "—"), el("td", {}, o.reason), el("td", {}, o.origin_site || "here")));
  }
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    say(f, "recording…", true);
    const r = await api("POST", "/api/v1/objections", new FormData(f));
    const body = await r.json().catch(() => ({}));
    if (!r.ok) return say(f, body.detail || r.statusText);
    const also = body.enrolled_withheld.length ? `; enrolled and now withheld: ${body.enrolled_withheld.join(", ")}` : "";
    say(f, `objection recorded: this face is no longer identified${also}`, true);
    f.reset();
    refresh();
  });
  refresh();
}

async function initWatchlists() {
  const f = $("#watchlist-form"), box = $("#watchlists");
  let people = [];
  async function refresh() {
    const [rl, rp] = await Promise.all([api("GET", "/api/v1/watchlists"), api("GET", "/api/v1/people")]);
    box.replaceChildren();
    if (!rl.ok) return box.append(el("p", { class: "bad" }, await errorText(rl)));
    people = rp.ok ? await rp.json() : [];
    const lists = await rl.json();
    if (!lists.length) box.append(el("p", { class: "muted" }, "no watchlists"));
    for (const w of lists) {
      const act = el("select", { "aria-label": "action of " + w.name, onchange: async () => {
        const r = await api("PATCH", `/api/v1/watchlists/${w.id}`, { action: act.value });
        if (!r.ok) alert(await errorText(r)); refresh();
      } }, ...["alert", "notify", "ignore"].map((a) => el("option", a === w.action ? { selected: "" } : {}, a)));
      const needs = el("select", { "aria-label": "confirmations of " + w.name, onchange: async () => {
        const r = await api("PATCH", `/api/v1/watchlists/${w.id}`, { confirmations_required: Number(needs.value) });
        if (!r.ok) alert(await errorText(r)); refresh();
      } }, ...[0, 1, 2, 3].map((n) => el("option", n === w.confirmations_required ? { value: n, selected: "" } : { value: n },
        n ? `${n} to confirm` : "no confirmation")));
      const members = w.members.map((m) => el("span", { class: "chip" }, m.name, el("button", { type: "button", title: "remove " + m.name,
        onclick: async () => { const r = await api("DELETE", `/api/v1/watchlists/${w.id}/members/${m.id}`); if (!r.ok) alert(await errorText(r)); refresh(); } }, "×")));
      const pick = el("select", { "aria-label": "add a person to " + w.name }, el("option", { value: "" }, "add a person…"),
        ...people.filter((p) => !w.members.some((m) => m.id === p.id)).map((p) => el("option", { value: p.id }, p.name)));
      pick.addEventListener("change", async () => {
        if (!pick.value) return;
        const r = await api("PUT", `/api/v1/watchlists/${w.id}/members/${pick.value}`);
        if (!r.ok) alert(await errorText(r)); refresh();
      });
      const del = el("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm(`Delete the watchlist ${w.name}?`)) return;
        const r = await api("DELETE", `/api/v1/watchlists/${w.id}`); if (!r.ok) alert(await errorText(r)); refresh();
      } }, "Delete list");
      box.append(el("div", { class: "card watchlist", "data-watchlist": w.name },
        el("div", { class: "row" }, el("strong", {}, w.name), act, needs, pick, del),
        el("div", {}, ...(members.length ? members : [el("span", { class: "muted" }, "nobody on this list")]))));
    }
  }
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { name: f.name.value, action: f.action.value };
    if (f.confirmations.value !== "") body.confirmations_required = Number(f.confirmations.value);
    const r = await api("POST", "/api/v1/watchlists", body);
    if (!r.ok) return say(f, await errorText(r));
    say(f, `created ${f.name.value}`, true); f.reset(); refresh();
  });
  refresh();
}

// --- zones: masks and zones over a live snapshot, drawing, machine time line, occupancy ---

function initZones() {
  const root = $("#zones"), cam = root.dataset.camera, svg = $("#zone-overlay"), img = $("#zone-snap");
  const NS = "http://www.w3.org/2000/svg";
  const shape = (tag, cls, pts, label) => {
    const g = document.createElementNS(NS, tag);
    g.setAttribute("points", pts.map((p) => p.join(",")).join(" "));
    g.setAttribute("class", cls);
    svg.append(g);
    if (label) {
      const t = document.createElementNS(NS, "text");
      const cx = pts.reduce((n, p) => n + p[0], 0) / pts.length, cy = pts.reduce((n, p) => n + p[1], 0) / pts.length;
      t.setAttribute("x", cx); t.setAttribute("y", cy); t.setAttribute("text-anchor", "middle");
      t.textContent = label; svg.append(t);
    }
    return g;
  };
  // Live snapshot under the overlay, refreshed every 2 s.
  img.dataset.src = `/api/v1/cameras/${cam}/snapshot.jpg`;
  // The frame takes the picture's own shape, so overlay fractions are fractions of the picture
  // (a letterboxed 4:3 picture in a 16:9 box would shift every polygon).
  img.addEventListener("load", () => {
    if (img.naturalWidth) $("#zone-frame").style.aspectRatio = `${img.naturalWidth} / ${img.naturalHeight}`;
  });
  refreshSnapshot(img, 2000);

  // The camera's layout as last loaded or edited here; Save sends it whole with the file
  // version (etag) it was loaded from, so an edit made meanwhile is refused, never overwritten.
  let layout = { zones: [], privacy_masks: [], motion_masks: [] }, etag = null, dirty = false;
  let draft = null;
  const points = [];
  const form = $("#draw-form");
  const MASKS = { privacy_mask: "privacy_masks", motion_mask: "motion_masks" };
  function drawLayout() {
    svg.replaceChildren();
    draft = null;
    layout.privacy_masks.forEach((m) => shape("polygon", "z-mask", m));
    layout.motion_masks.forEach((m) => shape("polygon", "z-motionmask", m));
    layout.zones.forEach((zn) => shape("polygon", "z-" + zn.kind, zn.polygon, zn.name).dataset.zone = zn.name);
    const item = (label, onEdit, onDelete) => el("li", {}, label, form ? el("span", { class: "actions" }, " ",
      el("button", { type: "button", class: "edit", onclick: onEdit }, "Edit"), " ",
      el("button", { type: "button", class: "danger delete", onclick: onDelete }, "Delete")) : "");
    const zoneItems = layout.zones.map((zn, i) => item(`${zn.name}: ${zn.kind}`,
      () => edit(zn.kind, layout.zones.splice(i, 1)[0]), () => { layout.zones.splice(i, 1); changed(); }));
    const maskItems = (key, what, label) => layout[key].map((m, i) => item(`${label} ${i + 1}`,
      () => edit(what, { polygon: layout[key].splice(i, 1)[0] }), () => { layout[key].splice(i, 1); changed(); }));
    $("#zone-list").replaceChildren(...zoneItems, ...maskItems("privacy_masks", "privacy_mask", "privacy mask"),
      ...maskItems("motion_masks", "motion_mask", "motion mask"),
      el("li", { class: "muted" }, `${layout.zones.length} zone(s), ${layout.privacy_masks.length} privacy mask(s), ${layout.motion_masks.length} motion mask(s)`));
    showDraft();
  }
  async function loadShapes() {
    const r = await api("GET", `/api/v1/cameras/${cam}/zones`);
    if (!r.ok) return;
    const z = await r.json();
    layout = { zones: z.zones, privacy_masks: z.privacy_masks, motion_masks: z.motion_masks };
    etag = z.etag;
    dirty = false;
    if (form && etag === null) say(form, "this server has no vigil.yaml to save to: zones and masks are read-only here");
    drawLayout();
    markDirty();
  }
  function markDirty() {
    if (form) $("#layout-dirty").textContent = dirty ? "unsaved changes" : "";
  }
  function changed() { dirty = true; drawLayout(); markDirty(); }

  const r3 = (v) => Math.round(v * 1000) / 1000;
  let editing = {};  // settings of the zone being redrawn, kept as they were
  function showDraft() {
    if (!form) return;
    if (draft) draft.remove();
    draft = points.length ? shape(points.length > 2 ? "polygon" : "polyline", "z-draft", points) : null;
    $("#draw-count").textContent = `${points.length} point(s)`;
    const what = form.what.value;
    const show = (sel, on) => { $(sel, form).style.display = on ? "" : "none"; };
    show(".for-zone", !(what in MASKS));
    show(".for-doorway", what === "doorway");
    show(".for-restricted", what === "restricted");
    $("#draw-add").disabled = points.length < 3;
  }
  function edit(what, item) {
    form.what.value = what;
    editing = what in MASKS ? {} : item;
    if (!(what in MASKS)) {
      form.name.value = item.name;
      form.inward.value = item.inward || "up";
      form.hours.value = item.allowed_hours || "07:00-19:00";
    }
    points.length = 0;
    points.push(...item.polygon.map((p) => [p[0], p[1]]));
    changed();
    say(form, "editing: click to add corners, Undo point to remove the last, then Add", true);
  }
  if (form) {
    $("#zone-frame").addEventListener("click", (ev) => {
      const b = svg.getBoundingClientRect();
      points.push([r3((ev.clientX - b.left) / b.width), r3((ev.clientY - b.top) / b.height)]);
      showDraft();
    });
    $("#draw-undo").addEventListener("click", () => { points.pop(); showDraft(); });
    $("#draw-clear").addEventListener("click", () => { points.length = 0; editing = {}; showDraft(); });
    $("#draw-add").addEventListener("click", () => {
      const what = form.what.value, polygon = points.map((p) => [p[0], p[1]]);
      if (polygon.length < 3) return say(form, "add at least three points");
      if (what in MASKS) layout[MASKS[what]].push(polygon);
      else {
        const name = form.name.value.trim();
        if (!form.name.checkValidity() || !name) return say(form, "a zone name is letters, digits, spaces, '-' and '_' (up to 64)");
        if (layout.zones.some((zn) => zn.name === name)) return say(form, `there is already a zone named ${name}`);
        const zone = { ...editing, name, kind: what, polygon };
        if (what === "doorway") zone.inward = form.inward.value;
        if (what === "restricted") zone.allowed_hours = form.hours.value;
        layout.zones.push(zone);
      }
      points.length = 0; editing = {};
      changed();
      say(form, "added: Save to keep it", true);
    });
    $("#layout-save").addEventListener("click", async () => {
      if (etag === null) return say(form, "this server has no vigil.yaml to save to");
      if (points.length) return say(form, "the drawing in progress is not added yet: Add it or Clear it first");
      const r = await api("PUT", `/api/v1/cameras/${cam}/zones`, { etag, ...layout });
      if (!r.ok) return say(form, `not saved: ${await errorText(r)}`);
      const z = await r.json();
      layout = { zones: z.zones, privacy_masks: z.privacy_masks, motion_masks: z.motion_masks };
      etag = z.etag; dirty = false;
      drawLayout(); markDirty();
      say(form, "saved to vigil.yaml; the camera uses it now", true);
    });
    form.addEventListener("change", showDraft);
    form.addEventListener("input", showDraft);
    form.addEventListener("submit", (ev) => ev.preventDefault());
    addEventListener("beforeunload", (ev) => { if (dirty) ev.preventDefault(); });
  }

  const dayInput = $("#zone-day");
  const today = new Date(Date.now() - new Date().getTimezoneOffset() * 60e3).toISOString().slice(0, 10);
  dayInput.value = today;
  async function loadDay() {
    const box = $("#machines"), doors = $("#doorways");
    const r = await api("GET", `/api/v1/cameras/${cam}/zones/day?day=${dayInput.value}`);
    box.replaceChildren(); doors.replaceChildren();
    if (!r.ok) return box.append(el("p", { class: "bad" }, await errorText(r)));
    const d = await r.json(), t0 = new Date(d.start), len = new Date(d.end) - t0;
    if (!d.machines.length) box.append(el("p", { class: "muted" }, "no machine data for this day"));
    for (const m of d.machines) {
      const line = document.createElementNS(NS, "svg");
      line.setAttribute("viewBox", "0 0 1000 10"); line.setAttribute("preserveAspectRatio", "none");
      line.setAttribute("class", "machine-line"); line.dataset.zone = m.zone;
      for (const s of m.spans) {
        const a = ((new Date(s.start) - t0) / len) * 1000, b = ((new Date(s.end) - t0) / len) * 1000;
        const rr = document.createElementNS(NS, "rect");
        Object.entries({ x: a, y: 0, width: Math.max(0.5, b - a), height: 10, class: "m-" + s.state }).forEach(([k, v]) => rr.setAttribute(k, v));
        line.append(rr);
      }
      const mins = m.minutes;
      box.append(el("p", {}, el("strong", {}, m.zone), ` · running ${(mins.running || 0).toFixed(0)} min, idle ${(mins.idle || 0).toFixed(0)} min, no data ${(mins["no data"] || 0).toFixed(0)} min`), line);
    }
    for (const dw of d.doorways) doors.append(el("li", {}, `${dw.zone}: ${dw.counts.in || 0} in, ${dw.counts.out || 0} out`));
    loadOccupancy(d.start, d.end);
  }
  // People per zone: a step line of the most inside per minute, "now" and the day's maximum.
  let dayRange = null;
  async function loadOccupancy(start, end) {
    dayRange = [start, end];
    const box = $("#occupancy");
    const q = `start=${encodeURIComponent(start)}&end=${encodeURIComponent(end)}`;
    const r = await api("GET", `/api/v1/cameras/${cam}/zones/occupancy?${q}`);
    if (!r.ok) return box.replaceChildren(el("p", { class: "bad" }, await errorText(r)));
    const d = await r.json(), t0 = new Date(d.start), len = new Date(d.end) - t0;
    box.replaceChildren();
    if (!d.zones.length) box.append(el("p", { class: "muted" }, "no zones on this camera"));
    for (const z of d.zones) {
      const top = Math.max(1, z.max), svg = document.createElementNS(NS, "svg");
      svg.setAttribute("viewBox", "0 0 1000 40"); svg.setAttribute("preserveAspectRatio", "none");
      svg.setAttribute("class", "occupancy-line"); svg.dataset.zone = z.zone;
      let path = "", lastEnd = null;
      for (const pt of z.series) {
        const a = ((new Date(pt.start) - t0) / len) * 1000, b = a + ((d.step_s * 1000) / len) * 1000;
        const y = 38 - (pt.max / top) * 34;
        path += (lastEnd !== null && Math.abs(a - lastEnd) < 0.01 ? `L${a},${y}` : `M${a},${y}`) + `L${b},${y}`;
        lastEnd = b;
      }
      if (path) {
        const line = document.createElementNS(NS, "path");
        line.setAttribute("d", path); line.setAttribute("vector-effect", "non-scaling-stroke");
        svg.append(line);
      }
      const now = z.now === null ? "–" : String(z.now);
      const at = z.max_at ? ` at ${new Date(z.max_at).toLocaleTimeString([], { timeStyle: "short" })}` : "";
      box.append(el("p", {}, el("strong", {}, z.zone),
        " · now ", el("span", { class: "occ-now" }, now),
        " · max ", el("span", { class: "occ-max" }, String(z.max)), at,
        z.series.length ? "" : " · no data for this day"), svg);
    }
  }
  setInterval(() => { if (dayRange && !document.hidden) loadOccupancy(...dayRange); }, 30000);
  dayInput.addEventListener("change", loadDay);
  loadShapes();
  loadDay();
}

// --- search ------------------------------------------------------------------------------

function initSearch() {
  const f = $("#search-form"), out = $("#search-result");
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    say(f, "searching…", true);
    const r = await api("POST", "/api/v1/search/photo", new FormData(f));
    if (!r.ok) { out.hidden = true; return say(f, await errorText(r)); }
    say(f, "");
    const res = await r.json(), m = res.match;
    $("#match").textContent = m.objection
      ? "Not identified: an objection to face recognition covers this face."
      : m.known
      ? `${m.name}: score ${m.score.toFixed(3)} (threshold ${m.threshold.toFixed(3)} for faces ${m.band}), confidence ${m.confidence_text}`
      : m.band.startsWith("under")
      ? `Not identified: the face is ${m.band} wide, too small to name anyone.`
      : `No enrolled person matches (best score ${m.score.toFixed(3)} is below the threshold ${m.threshold.toFixed(3)} for faces ${m.band}).`;
    const list = $("#search-events");
    list.replaceChildren();
    for (const e of res.events) list.append(eventItem(e));
    for (const s of res.sightings) list.append(el("li", {}, `unknown face · ${s.camera} · ${fmtTime(s.seen_at)} · score ${s.score.toFixed(3)}`));
    if (res.sightings_note) list.append(el("li", { class: "muted" }, res.sightings_note));
    else if (!res.events.length && !res.sightings.length) list.append(el("li", { class: "muted" }, "no events of this face"));
    out.hidden = false;
  });
}

// --- users and audit ---------------------------------------------------------------------

function initUsers() {
  const f = $("#user-form"), list = $("#users-list");
  async function refresh() {
    const users = await (await api("GET", "/api/v1/users")).json();
    list.replaceChildren();
    for (const u of users) {
      const toggle = el("button", { type: "button", onclick: async () => {
        const r = await api("PATCH", `/api/v1/users/${u.id}`, { disabled: !u.disabled });
        if (!r.ok) alert(await errorText(r)); refresh();
      } }, u.disabled ? "Enable" : "Disable");
      const reset = el("button", { type: "button", onclick: async () => {
        const r = await api("PATCH", `/api/v1/users/${u.id}`, { reset_password: true });
        if (!r.ok) return alert(await errorText(r));
        alert(`One-time password for ${u.username} (shown once): ${(await r.json()).one_time_password}`); refresh();
      } }, "Reset password");
      list.append(el("tr", {}, el("td", {}, u.username), el("td", {}, u.role),
        el("td", {}, u.disabled ? "disabled" : (u.must_change_password ? "one-time password" : "active")),
        el("td", {}, u.last_login_at ? fmtTime(u.last_login_at) : "never"), el("td", {}, toggle, " ", reset)));
    }
  }
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await api("POST", "/api/v1/users", { username: f.username.value, role: f.role.value });
    if (!r.ok) return say(f, await errorText(r));
    const b = await r.json();
    say(f, `created ${b.user.username}; one-time password (shown once): ${b.one_time_password}`, true);
    refresh();
  });
  refresh();
}

async function initAudit() {
  const v = await api("GET", "/api/v1/audit/verify");
  const rep = v.ok ? await v.json() : null;
  $("#audit-verify").textContent = !rep ? "cannot verify" : rep.ok
    ? `chain intact: ${rep.records} records, ${rep.checkpoints_ok}/${rep.checkpoints} checkpoints verified`
      + (rep.anchor ? `, from the retention anchor at record ${rep.anchor.seq} (${rep.anchor.records_removed} older records deleted)` : "")
    : `CHAIN BROKEN: ${rep.problems[0].message}`;
  const w = rep && rep.witness;
  if (w) $("#audit-witness").textContent = w.seq !== null
    ? `witnessed up to record ${w.seq} (signed ${fmtTime(w.time)}) by ${w.by.join(", ")}; ${w.unwitnessed} record(s) after it not witnessed yet`
    : w.witnesses.length ? `witnesses ${w.witnesses.join(", ")}: no head witnessed yet`
      : "not witnessed: no witness configured, the tail after the last checkpoint could be cut unnoticed";
  const rows = await (await api("GET", "/api/v1/audit?limit=200")).json();
  const list = $("#audit-list");
  for (const a of rows) list.append(el("tr", {}, el("td", {}, a.seq), el("td", {}, fmtTime(a.time)),
    el("td", {}, `${a.actor} (${a.role})`), el("td", {}, a.action.replace("_", " ")),
    el("td", {}, [a.target_kind, a.target_id, a.camera].filter(Boolean).join(" ")), el("td", {}, a.reason)));
  initRecognitionLog();
}

// The recognition log: periods of live recognition and matches with their verifiers.
function initRecognitionLog() {
  const f = $("#recognition-filter");
  async function refresh() {
    const q = new URLSearchParams();
    if (f.camera.value) q.set("camera", f.camera.value);
    for (const k of ["since", "until"]) if (f[k].value) q.set(k, new Date(f[k].value).toISOString());
    const r = await api("GET", "/api/v1/audit/recognition?" + q);
    if (!r.ok) return say(f, await errorText(r));
    say(f, "", true);
    const log = await r.json();
    $("#recognition-periods").replaceChildren(...log.periods.map((p) => el("tr", {},
      el("td", {}, p.id), el("td", {}, p.camera), el("td", {}, fmtTime(p.start)),
      el("td", {}, p.end ? fmtTime(p.end) : "running"), el("td", {}, p.ended_by), el("td", {}, p.model),
      el("td", {}, p.threshold.toFixed(3)),
      el("td", { title: p.gallery_hash }, `${p.gallery_hash.slice(0, 12)}… ${p.templates} templates, ${p.people} people`
        + p.watchlists.map((w) => `; ${w.name} (${w.action})`).join("")))));
    $("#recognition-matches").replaceChildren(...log.matches.map((m) => el("tr", {},
      el("td", {}, m.seq), el("td", {}, fmtTime(m.time)), el("td", {}, m.camera ?? ""),
      el("td", {}, m.person ?? `#${m.person_id}`), el("td", {}, m.score?.toFixed(3) ?? ""),
      el("td", {}, m.threshold?.toFixed(3) ?? ""), el("td", {}, m.period ?? ""),
      el("td", {}, `${m.event} (${m.snapshot_state})`),
      el("td", {}, m.verified_by.map((v) => `${v.actor}: ${v.verdict}`).join(", ") || "nobody"))));
  }
  f.addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });
  refresh();
  const x = $("#recognition-export");
  x.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await api("POST", "/api/v1/audit/recognition/export", {
      since: new Date(x.since.value).toISOString(), until: new Date(x.until.value).toISOString(),
      camera: f.camera.value || null, reason: x.reason.value });
    if (!r.ok) return say(x, await errorText(r));
    const name = (r.headers.get("content-disposition") || "").match(/filename="([^"]+)"/)?.[1] || "recognition-log.zip";
    const a = el("a", { href: URL.createObjectURL(await r.blob()), download: name });
    a.click();
    say(x, `downloaded ${name} (signed; the export was audited)`, true);
  });
}

// --- start -------------------------------------------------------------------------------

const PAGES = { login: initLogin, setup: initSetup, password: initPassword, dashboard: initDashboard,
  camera: initCamera, events: initEvents, review: initReview, people: initPeople, zones: initZones, search: initSearch, users: initUsers, audit: initAudit };

document.addEventListener("DOMContentLoaded", () => {
  const out = $("#logout");
  if (out) out.addEventListener("click", async () => { await api("POST", "/api/v1/auth/logout"); location.href = "/login"; });
  const init = PAGES[document.body.dataset.page];
  if (init) init();
});
