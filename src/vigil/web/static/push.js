// Vigil as an installed app: the service worker (/sw.js) is registered on every page; the
// notifications page subscribes this device to Web Push; the event page shows one event.
// Uses app.js's helpers ($, el, api, errorText, eventItem), loaded before this file.
"use strict";

const swReady = "serviceWorker" in navigator
  ? navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((e) => {
    console.warn("service worker not registered:", e);
    return null;
  })
  : Promise.resolve(null);

function keyBytes(b64url) {
  const s = atob(b64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((b64url.length + 3) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function deviceLabel() {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox"
    : /Chrom(e|ium)\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS"
    : /Mac OS X/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}

async function initNotifications() {
  const f = $("#push-form");
  if (!f) return;  // push is off on this site
  const msg = $("#push-msg"), list = $("#push-devices"), off = $("#push-disable");
  const tell = (text, ok = false) => { msg.textContent = text; msg.className = "msg " + (ok ? "ok" : "bad"); };
  const supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  let mine = [];

  async function current() {
    const reg = await swReady;
    return reg && reg.pushManager ? reg.pushManager.getSubscription() : null;
  }

  async function refresh() {
    const r = await api("GET", "/api/v1/push/subscriptions");
    list.replaceChildren();
    if (!r.ok) return list.append(el("li", {}, await errorText(r)));
    mine = await r.json();
    const here = await current().catch(() => null);
    const own = here && mine.find((s) => s.endpoint === here.endpoint);
    off.hidden = !own;
    if (own) {
      f.alerts.checked = own.alerts;
      f.reviews.checked = own.reviews;
      for (const o of f.cameras.options) o.selected = own.cameras.includes(o.value);
    }
    if (!mine.length) list.append(el("li", { class: "muted" }, "no device yet"));
    for (const s of mine) {
      const what = [s.alerts && "alerts", s.reviews && "review items"].filter(Boolean).join(" and ");
      const where = s.cameras.length ? s.cameras.join(", ") : "every camera";
      const remove = el("button", { type: "button", class: "danger" }, "Remove");
      remove.addEventListener("click", async () => {
        const r = await api("DELETE", `/api/v1/push/subscriptions/${s.id}`);
        if (!r.ok) return tell(await errorText(r));
        if (own && own.id === s.id) await here.unsubscribe().catch(() => {});
        refresh();
      });
      list.append(el("li", { class: "event push-device", "data-id": s.id },
        el("div", { class: "grow" },
          el("strong", {}, s.label || "device"), own && own.id === s.id ? " · this device" : "",
          el("div", {}, `${what} · ${where}`),
          el("small", { class: "muted" }, s.last_sent_at ? `last notified ${fmtTime(s.last_sent_at)}` : "not notified yet")),
        remove));
    }
  }

  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!supported) return tell("This browser cannot receive notifications here (on a phone, add Vigil to the home screen and open it from there).");
    try {
      const k = await api("GET", "/api/v1/push/key");
      if (!k.ok) return tell(await errorText(k));
      const { enabled, public_key: key } = await k.json();
      if (!enabled) return tell("Notifications are off on this site.");
      if (await Notification.requestPermission() !== "granted") {
        return tell("Notifications are blocked for this site: allow them in the browser's site settings.");
      }
      const reg = await navigator.serviceWorker.ready;
      let sub = await reg.pushManager.getSubscription();
      const wanted = keyBytes(key);
      const same = sub && sub.options.applicationServerKey &&
        new Uint8Array(sub.options.applicationServerKey).every((b, i) => b === wanted[i]);
      if (sub && !same) { await sub.unsubscribe(); sub = null; }  // made with another site key
      sub = sub || await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: wanted });
      const j = sub.toJSON();
      const r = await api("POST", "/api/v1/push/subscriptions", {
        endpoint: j.endpoint, keys: { p256dh: j.keys.p256dh, auth: j.keys.auth },
        alerts: f.alerts.checked, reviews: f.reviews.checked,
        cameras: [...f.cameras.selectedOptions].map((o) => o.value), label: deviceLabel(),
      });
      if (!r.ok) return tell(await errorText(r));
      tell("Notifications are on for this device.", true);
      refresh();
    } catch (e) {
      tell(`Could not enable notifications: ${e.message || e}`);
    }
  });

  off.addEventListener("click", async () => {
    const here = await current().catch(() => null);
    const own = here && mine.find((s) => s.endpoint === here.endpoint);
    if (own) {
      const r = await api("DELETE", `/api/v1/push/subscriptions/${own.id}`);
      if (!r.ok) return tell(await errorText(r));
    }
    if (here) await here.unsubscribe().catch(() => {});
    tell("Notifications are off for this device.", true);
    refresh();
  });

  refresh();
}

async function initEventPage() {
  const list = $("#event-one");
  const r = await api("GET", `/api/v1/events/${encodeURIComponent(list.dataset.uid)}`);
  list.replaceChildren(r.ok ? eventItem(await r.json()) : el("li", { class: "bad" }, await errorText(r)));
}

document.addEventListener("DOMContentLoaded", () => {
  const init = { notifications: initNotifications, event: initEventPage }[document.body.dataset.page];
  if (init) init();
});
