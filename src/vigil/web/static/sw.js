// Vigil's service worker: shows what the site pushes, opens its page on a click. It caches
// nothing: every page is behind the login and must be fresh.
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

function readPush(data) {
  if (!data) return {};
  try { return data.json(); } catch { return { body: data.text() }; }
}

self.addEventListener("push", (event) => {
  const msg = readPush(event.data);
  const when = Date.parse(msg.start);
  event.waitUntil(self.registration.showNotification(msg.title || "Vigil", {
    body: msg.body || "",
    tag: msg.tag,  // the same event or item replaces its earlier notification
    data: { url: msg.url || "/" },
    icon: "/icons/icon-192.png",
    badge: "/icons/icon-96.png",
    timestamp: Number.isNaN(when) ? Date.now() : when,
  }));
});

// Open the event's page: focus a window already on it, else reuse one of the site's, else open.
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL(event.notification.data?.url || "/", self.location.origin);
  if (url.origin !== self.location.origin) return;  // only our own pages
  event.waitUntil((async () => {
    const wins = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    const same = wins.find((w) => w.url === url.href);
    if (same) return same.focus();
    const ours = wins.find((w) => new URL(w.url).origin === url.origin && "navigate" in w);
    try {
      if (ours) return (await ours.navigate(url.href))?.focus();  // controlled windows only
    } catch { /* a window this worker does not control yet: open a new one */ }
    return self.clients.openWindow(url.href);
  })());
});
