// ONVIF in the web UI: the Discover panel (dashboard, admins) and PTZ (camera page).
// Uses app.js's helpers ($, el, api, errorText, say), loaded before this file.
"use strict";

function initOnvifDiscover(panel) {
  const form = $("#onvif-add", panel), list = $("#onvif-found", panel);
  const f = (name) => form.elements.namedItem(name); // form.name is the form's own attribute
  const login = () => ({ url: f("url").value.trim(), username: f("username").value, password: f("password").value });
  $("#onvif-find", panel).addEventListener("click", async () => {
    list.replaceChildren(el("li", { class: "muted" }, "probing the network…"));
    const r = await api("GET", "/api/v1/onvif/discover");
    if (!r.ok) { list.replaceChildren(el("li", { class: "bad" }, await errorText(r))); return; }
    const found = await r.json();
    list.replaceChildren(...(found.length ? found.map((cam) => el("li", {},
      el("strong", {}, cam.name || cam.hardware || "camera"), " · ", cam.host, " ",
      el("button", { type: "button", class: "link", onclick: () => { f("url").value = cam.xaddrs[0]; f("name").focus(); } }, "use"),
    )) : [el("li", { class: "muted" }, "no camera answered")]));
  });
  $("#onvif-read", panel).addEventListener("click", async () => {
    say(form, "reading the camera's profiles…", true);
    const r = await api("POST", "/api/v1/onvif/inspect", login());
    if (!r.ok) { say(form, await errorText(r)); return; }
    const d = await r.json();
    const opts = (sel, chosen, none) => sel.replaceChildren(...(none ? [el("option", { value: "" }, "none")] : []),
      ...d.profiles.map((p) => { const o = el("option", { value: p.token }, `${p.name || p.token}: ${p.encoding} ${p.width}×${p.height}`); o.selected = p.token === chosen; return o; }));
    opts(f("main"), d.main, false);
    opts(f("sub"), d.sub, true);
    f("events").disabled = !d.events;
    $("#onvif-profiles", panel).hidden = false;
    say(form, `${d.info.manufacturer} ${d.info.model}${d.ptz ? " (pan, tilt, zoom)" : ""}`, true);
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { ...login(), name: f("name").value.trim(), main: f("main").value || null, sub: f("sub").value || null, events: f("events").checked };
    const r = await api("POST", "/api/v1/onvif/cameras", body);
    if (!r.ok) { say(form, await errorText(r)); return; }
    const c = await r.json();
    f("password").value = "";
    say(form, `added ${c.name} to vigil.yaml (${c.url}${c.sub_url ? ", sub stream " + c.sub_url : ""}); restart Vigil to start recording it`, true);
  });
}

function initPtz(panel) {
  const cam = encodeURIComponent(panel.dataset.camera), base = `/api/v1/cameras/${cam}/ptz`;
  const fail = async (r) => say(panel, await errorText(r));
  const preset = $("select[name=preset]", panel);
  api("GET", base).then(async (r) => {
    if (!r.ok) return; // no ONVIF section or no PTZ: the panel stays hidden
    const d = await r.json();
    preset.replaceChildren(...d.presets.map((p) => el("option", { value: p.token }, p.name)));
    panel.hidden = false;
  });
  for (const b of panel.querySelectorAll("[data-move]")) {
    const [pan, tilt, zoom] = b.dataset.move.split(",").map(Number);
    const speed = 0.5;
    b.addEventListener("pointerdown", async () => {
      const r = await api("POST", `${base}/move`, { pan: pan * speed, tilt: tilt * speed, zoom: zoom * speed, seconds: 5 });
      if (!r.ok) fail(r); else say(panel, "moving…", true);
    });
    for (const end of ["pointerup", "pointerleave"]) {
      b.addEventListener(end, async (ev) => {
        if (end === "pointerleave" && !(ev.buttons & 1)) return;
        const r = await api("POST", `${base}/stop`);
        if (!r.ok) fail(r); else say(panel, "stopped", true);
      });
    }
  }
  $("#ptz-goto", panel).addEventListener("click", async () => {
    const token = preset.value;
    if (!token) return;
    const r = await api("POST", `${base}/presets/${encodeURIComponent(token)}`);
    if (!r.ok) fail(r); else say(panel, `going to ${preset.selectedOptions[0].textContent}`, true);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const discover = $("#onvif-discover"), ptz = $("#ptz");
  if (discover) initOnvifDiscover(discover);
  if (ptz) initPtz(ptz);
});
