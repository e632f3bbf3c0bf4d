// Hub pages (vigil hub, web: true in hub.yaml): network-wide views over /api/v1/hub; uses app.js's helpers.
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

// The site's audit chain against the heads the hub witnessed (auditors; the site is asked).
function auditCheck(site) {
  const out = el("span", { class: "muted" });
  const btn = el("button", { type: "button", class: "audit-check", onclick: async () => {
    out.textContent = " checking…";
    const r = await api("GET", `/api/v1/hub/sites/${encodeURIComponent(site)}/audit/verify`);
    if (!r.ok) { out.textContent = ` ${await errorText(r)}`; return; }
    const v = await r.json();
    const lost = v.losses.map((x) => x.first === x.last ? `${x.first}` : `${x.first}-${x.last}`);
    out.textContent = v.ok ? ` no loss; witnessed up to record ${v.newest_seq ?? "-"}`
      : lost.length ? ` RECORDS LOST: ${lost.join(", ")}` : ` PROBLEM: ${v.problems[0]}`;
    out.className = v.ok ? "muted" : "err";
  } }, "check");
  return el("span", {}, btn, out);
}

async function refreshHubDashboard() {
  const r = await api("GET", "/api/v1/hub/sites");
  const body = $("#hub-sites tbody");
  body.replaceChildren();
  if (!r.ok) return body.append(el("tr", {}, el("td", { colspan: 7 }, await errorText(r))));
  for (const s of await r.json()) {
    body.append(el("tr", { "data-site": s.name },
      el("td", {}, s.name),
      el("td", {}, el("span", { class: `link-state link-${s.link}` }, s.link)),
      el("td", {}, s.last_seen ? fmtTime(s.last_seen) : "never"),
      el("td", { class: "backlog" }, s.backlog === null ? "?" : `${s.backlog}${s.backlog_live ? "" : " (last known)"}`),
      el("td", {}, s.cameras), el("td", {}, s.events), el("td", { class: "audit-chain" }, auditCheck(s.name))));
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
    $("#hub-match").textContent = m.objection
      ? "not identified: an objection to face recognition covers this face"
      : m.known
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

// --- people and watchlists at the hub (changes: admins only; the page hides them from others) ---

function placementText(x) {
  if (x.state !== "removed_by_site") return `${x.site}: ${x.state}`;
  const by = [x.removed_by || "unknown user", x.removed_at ? fmtTime(x.removed_at) : ""].filter(Boolean).join(", ");
  return `${x.site}: removed by the site (${by})` + (x.removed_reason ? `: “${x.removed_reason}”` : "");
}

function initHubPeople() {
  const list = $("#hub-people-list"), box = $("#hub-watchlists");
  const canChange = !!list.dataset.canChange;
  const allSites = box.dataset.sites ? box.dataset.sites.split(",") : [];
  async function act(method, url, body) {
    const r = await api(method, url, body);
    if (!r.ok) alert(await errorText(r));
    refresh();
  }
  function personRow(p, lists) {
    const uidOf = Object.fromEntries(lists.map((w) => [w.name, w.uid]));
    const chips = p.watchlists.map((n) => el("span", { class: "chip" }, n, ...(canChange ? [el("button", {
      type: "button", title: `take ${p.name} off ${n}`,
      onclick: () => act("DELETE", `/api/v1/hub/watchlists/${uidOf[n]}/members/${p.uid}`) }, "×")] : [])));
    const onLists = el("td", { class: "watchlists" }, ...(chips.length ? chips : [el("span", { class: "muted" }, "none")]));
    const others = lists.filter((w) => !p.watchlists.includes(w.name));
    if (canChange && others.length) {
      const pick = el("select", { "aria-label": `put ${p.name} on a watchlist` }, el("option", { value: "" }, "add to a list…"),
        ...others.map((w) => el("option", { value: w.uid }, w.name)));
      pick.addEventListener("change", () => pick.value && act("PUT", `/api/v1/hub/watchlists/${pick.value}/members/${p.uid}`));
      onLists.append(pick);
    }
    const sites = p.placements.map((x) => el("div", { class: `placement placement-${x.state}`, "data-site": x.site }, placementText(x)));
    const row = el("tr", { "data-uid": p.uid, "data-name": p.name },
      el("td", {}, p.name), el("td", {}, p.templates), el("td", {}, p.legal_basis.replace("_", " ")), onLists,
      el("td", { class: "sites" }, ...(sites.length ? sites : [el("span", { class: "muted" }, "sent to no site")])),
      el("td", {}, `${fmtTime(p.enrolled_at)} by ${p.enrolled_by}`));
    if (canChange) row.append(el("td", {}, el("button", { type: "button", class: "danger remove", onclick: () => openRemove(p) }, "Remove…")));
    return row;
  }
  function watchlistCard(w) {
    const head = el("div", { class: "row" }, el("strong", {}, w.name));
    const card = el("div", { class: "card watchlist", "data-watchlist": w.name }, head);
    if (!canChange) {
      head.append(` · ${w.action} · sites: ${w.sites.join(", ") || "none"}`);
    } else {
      const action = el("select", { "aria-label": "action of " + w.name, style: "width:auto",
        onchange: () => act("PATCH", `/api/v1/hub/watchlists/${w.uid}`, { action: action.value }) },
        ...["alert", "notify", "ignore"].map((a) => el("option", a === w.action ? { selected: "" } : {}, a)));
      const names = [...new Set([...allSites, ...w.sites])];
      const boxes = names.map((s) => el("label", { style: "display:inline; margin:0 .5rem" }, el("input", { type: "checkbox", name: "site", value: s, ...(w.sites.includes(s) ? { checked: "" } : {}) }), " " + s));
      const save = el("button", { type: "button", class: "save-sites", onclick: () => act("PATCH", `/api/v1/hub/watchlists/${w.uid}`,
        { sites: [...card.querySelectorAll("input[name=site]:checked")].map((i) => i.value) }) }, "Save sites");
      const del = el("button", { type: "button", class: "danger", onclick: () => confirm(`Delete the hub watchlist ${w.name} (and its copies at its sites)?`)
        && act("DELETE", `/api/v1/hub/watchlists/${w.uid}`) }, "Delete list");
      head.append(action, el("span", { class: "sites" }, ...boxes), save, del);
    }
    card.append(el("div", { class: "members" }, w.members.length ? "members: " + w.members.join(", ") : el("span", { class: "muted" }, "nobody on this list")));
    return card;
  }
  async function refresh() {
    const [rp, rl] = await Promise.all([api("GET", "/api/v1/hub/people"), api("GET", "/api/v1/hub/watchlists")]);
    list.replaceChildren(); box.replaceChildren();
    if (!rp.ok) return list.append(el("tr", {}, el("td", { colspan: 7 }, await errorText(rp))));
    const people = await rp.json(), lists = rl.ok ? await rl.json() : [];
    if (!people.length) list.append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "nobody is enrolled at the hub")));
    for (const p of people) list.append(personRow(p, lists));
    if (!lists.length) box.append(el("p", { class: "muted" }, "no hub watchlists"));
    for (const w of lists) box.append(watchlistCard(w));
  }
  function openRemove(p) {
    const f = $("#hub-remove-form");
    f.dataset.uid = p.uid;
    $(".who", f).textContent = p.name;
    f.reason.value = ""; $(".msg", f).textContent = "";
    $("#hub-remove-dialog").showModal();
  }
  if (canChange) initHubGalleryForms(refresh);
  refresh();
}

function initHubGalleryForms(refresh) {
  const f = $("#hub-enrol-form"), quality = $("#hub-quality"), wf = $("#hub-watchlist-form"), rf = $("#hub-remove-form");
  checkPhotosWhenPicked(f.photos, quality, "/api/v1/hub/people/check");
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    say(f, "enrolling…", true);
    const r = await api("POST", "/api/v1/hub/people", new FormData(f));
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      if (body.photos) quality.replaceChildren(...body.photos.map(qualityItem));
      return say(f, body.detail || r.statusText);
    }
    say(f, `enrolled ${body.person.name} at the hub: ${body.added} template(s) added`, true);
    f.reset(); quality.replaceChildren();
    refresh();
  });
  wf.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const sites = [...wf.querySelectorAll("input[name=site]:checked")].map((i) => i.value);
    const r = await api("POST", "/api/v1/hub/watchlists", { name: wf.name.value, action: wf.action.value, sites });
    if (!r.ok) return say(wf, await errorText(r));
    wf.reset(); $(".msg", wf).textContent = "";
    refresh();
  });
  $("#hub-remove-cancel").addEventListener("click", () => $("#hub-remove-dialog").close());
  rf.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams({ reason: rf.reason.value });
    const r = await api("DELETE", `/api/v1/hub/people/${encodeURIComponent(rf.dataset.uid)}?${q}`);
    if (!r.ok) return say(rf, await errorText(r));
    $("#hub-remove-dialog").close();
    refresh();
  });
}

const HUB_PAGES = { "hub-dashboard": initHubDashboard, "hub-events": initHubEvents, "hub-search": initHubSearch,
  "hub-people": initHubPeople };
document.addEventListener("DOMContentLoaded", () => {
  const init = HUB_PAGES[document.body.dataset.page];
  if (init) init();
});
