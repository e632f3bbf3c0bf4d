// Camera health in the web UI: the alarm banner on a camera page, a badge on each camera tile
// and the health summary on the cameras page. Kept current without a reload: a new camera_*
// event arrives over the event stream and the health is read again; it is also read every
// 5 s, since an alarm clearing completes its event instead of adding one.
(() => {
  const banner = document.getElementById("health-banner");
  const summary = document.getElementById("health-summary");
  if (!banner && !summary) return;
  const camera = banner ? banner.dataset.camera : null;
  const SAYS = {
    covered: "lens covered or picture black", dark: "picture too dark", blurred: "out of focus",
    moved: "camera moved or turned", frozen: "picture frozen", stream_collapse: "frame rate or bitrate collapsed",
    recording_gap: "not recording",
  };
  const node = (tag, attrs, ...kids) => {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
    n.append(...kids);
    return n;
  };
  const when = (t) => new Date(t).toLocaleString();
  function alarmLine(a) {
    const li = node("li", { "data-condition": a.condition }, node("strong", {}, SAYS[a.condition] || a.condition), ` since ${when(a.since)} `);
    if (a.before_url) li.append(node("a", { href: a.before_url, target: "_blank" }, "before"), " ");
    if (a.snapshot_url) li.append(node("a", { href: a.snapshot_url, target: "_blank" }, "after"));
    return li;
  }
  function showBanner(h) {
    banner.hidden = !h.alarms.length;
    banner.querySelector("ul").replaceChildren(...h.alarms.map(alarmLine));
  }
  function showSummary(list) {
    const rows = list.map((h) => node("tr", { "data-camera": h.camera },
      node("td", {}, node("a", { href: `/cameras/${encodeURIComponent(h.camera)}` }, h.camera)),
      node("td", {}, !h.enabled ? "not checked" : h.healthy ? "ok" : h.alarms.map((a) => SAYS[a.condition] || a.condition).join(", ")),
      node("td", {}, h.reference_at ? when(h.reference_at) : "—"),
      node("td", {}, h.measures.mean === undefined ? "—" : `brightness ${h.measures.mean.toFixed(0)}, contrast ${h.measures.std.toFixed(0)}`)));
    summary.querySelector("tbody").replaceChildren(...rows);
    for (const h of list) {
      const cap = document.querySelector(`.tile[data-camera="${CSS.escape(h.camera)}"] .caption`);
      if (!cap) continue;
      let badge = cap.querySelector(".health-badge");
      if (!badge) cap.append(badge = node("span", { class: "state health-badge" }));
      badge.hidden = h.healthy;
      badge.textContent = h.alarms.map((a) => a.condition.replace("_", " ")).join(", ");
    }
  }
  async function refresh() {
    const url = camera ? `/api/v1/health/cameras/${encodeURIComponent(camera)}` : "/api/v1/health/cameras";
    const r = await fetch(url, { credentials: "same-origin" });
    if (!r.ok) return;
    const data = await r.json();
    if (camera) showBanner(data); else showSummary(data);
  }
  const src = new EventSource("/api/v1/events/stream" + (camera ? `?camera=${encodeURIComponent(camera)}` : ""));
  src.addEventListener("event", (m) => { if (JSON.parse(m.data).kind.startsWith("camera_")) refresh(); });
  window.addEventListener("pagehide", () => src.close());
  refresh();
  setInterval(refresh, 5000);
})();
