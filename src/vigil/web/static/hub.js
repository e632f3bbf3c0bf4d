// Hub pages (vigil hub --listen): network-wide views over /api/v1/hub; uses app.js's helpers.
"use strict";

function hubEventItem(e, canExport) {
  const li = el("li", { class: "event", "data-uid": e.uid });
  if (e.thumbnail_url) li.append(el("img", { src: e.thumbnail_url, alt: "thumbnail", loading: "lazy" }));
  const who = e.person ? `${e.person} (confidence ${confidence(e.confidence ?? 0)})` : "";
  const body = el("div", {},
    el("strong", {}, e.kind.replace("_", " ")), " · ", el("span", { class: "site" }, e.site), " / ", e.camera,
    " · ", fmtTime(e.start), who ? el("div", {}, who) : "");
  if (canExport) body.append(el("button", { type: "button", class: "clip", style: "margin-left:.6rem", onclick: () => openClip(e) }, "Clip…"));
  li.append(body);
  return li;
}

function openClip(e) {
  const d = $("#clip-dialog"), f = $("#clip-form");
  const start = new Date(e.start), end = e.end ? new Date(e.end) : new Date(start.getTime() + 10000);
  f.dataset.site = e.site; f.dataset.camera = e.camera;
  $(".clip-where", f).textContent = `${e.site} / ${e.camera}`;
  f.start.value = new Date(start.getTime() - 5000).toISOString();
  f.end.value = new Date(Math.max(end.getTime(), start.getTime() + 5000)).toISOString();
  $(".msg", f).textContent = "";
  d.showModal();
}

function initClipDialog() {
  const f = $("#clip-form");
  if (!f) return;
  $("#clip-cancel").addEventListener("click", () => $("#clip-dialog").close());
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    say(f, "asking the site…", true);
    const url = `/api/v1/hub/sites/${encodeURIComponent(f.dataset.site)}/cameras/${encodeURIComponent(f.dataset.camera)}/clip`;
    const r = await api("POST", url, { start: f.start.value, end: f.end.value, reason: f.reason.value, redact: f.redact.checked });
    if (!r.ok) return say(f, await errorText(r));
    const blob = await r.blob();
    const name = (r.headers.get("content-disposition") || "").match(/filename="?([^";]+)/)?.[1] || "clip.zip";
    const a = el("a", { href: URL.createObjectURL(blob), download: name }, name);
    document.body.append(a); a.click(); a.remove();
    say(f, `downloaded ${name}`, true);
  });
}

async function refreshHubDashboard() {
  const r = await api("GET", "/api/v1/hub/sites");
  const body = $("#hub-sites tbody");
  body.replaceChildren();
  if (!r.ok) return body.append(el("tr", {}, el("td", { colspan: 6 }, await errorText(r))));
  for (const s of await r.json()) {
    body.append(el("tr", { "data-site": s.name },
      el("td", {}, s.name),
      el("td", {}, el("span", { class: `link-state link-${s.link}` }, s.link)),
      el("td", {}, s.last_seen ? fmtTime(s.last_seen) : "never"),
      el("td", { class: "backlog" }, s.backlog === null ? "?" : `${s.backlog}${s.backlog_live ? "" : " (last known)"}`),
      el("td", {}, s.cameras), el("td", {}, s.events)));
  }
  const cams = await (await api("GET", "/api/v1/hub/cameras")).json();
  const cb = $("#hub-cameras tbody");
  cb.replaceChildren();
  for (const c of cams) cb.append(el("tr", {}, el("td", {}, c.site), el("td", {}, c.camera),
    el("td", {}, el("span", { class: `state state-${c.status}` }, c.status)), el("td", {}, fmtTime(c.at)), el("td", {}, c.events)));
}

function initHubEvents() {
  const f = $("#hub-events-filter"), list = $("#hub-events-list"), more = $("#hub-events-more");
  const canExport = !!$("#clip-form");
  let cursor = null;
  async function load(reset) {
    const q = new URLSearchParams({ limit: "50" });
    for (const k of ["site", "camera", "kind", "person", "reason"]) if (f[k].value.trim()) q.set(k, f[k].value.trim());
    if (!reset && cursor) q.set("cursor", cursor);
    const r = await api("GET", "/api/v1/hub/events?" + q);
    if (!r.ok) { if (reset) list.replaceChildren(); return say(f, await errorText(r)); }
    $(".msg", f).textContent = "";
    const page = await r.json();
    if (reset) list.replaceChildren();
    for (const e of page.events) list.append(hubEventItem(e, canExport));
    if (reset && !page.events.length) list.append(el("li", { class: "muted" }, "no events"));
    cursor = page.next_cursor;
    more.hidden = !cursor;
  }
  f.addEventListener("submit", (ev) => { ev.preventDefault(); load(true); });
  more.addEventListener("click", () => load(false));
  initClipDialog();
  load(true);
}

function initHubSearch() {
  const f = $("#hub-search-form");
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    say(f, "searching…", true);
    const r = await api("POST", "/api/v1/hub/search/photo", new FormData(f));
    if (!r.ok) return say(f, await errorText(r));
    const res = await r.json();
    $(".msg", f).textContent = "";
    const m = res.match;
    $("#hub-match").textContent = m.known
      ? `${m.name}: confidence ${confidence(m.confidence)} (${m.confidence_text}), ${res.events.length} events across sites`
      : `no one enrolled at the hub matches (best score ${m.score.toFixed(3)})`;
    const list = $("#hub-search-events");
    list.replaceChildren(...res.events.map((e) => hubEventItem(e, false)));
    $("#hub-search-result").hidden = false;
  });
}

function initHubDashboard() {
  refreshHubDashboard();
  setInterval(refreshHubDashboard, 10000);  // link, backlog and status change on their own
}

const HUB_PAGES = { "hub-dashboard": initHubDashboard, "hub-events": initHubEvents, "hub-search": initHubSearch };
document.addEventListener("DOMContentLoaded", () => {
  const init = HUB_PAGES[document.body.dataset.page];
  if (init) init();
});
