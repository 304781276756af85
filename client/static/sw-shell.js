// Signpost service worker, the app shell part: keeps the shell so the tablet opens with no
// network. Registered as it is where the browser has no Background Sync; imported by sw.js
// (which adds background sync) where it has.
// BUILD_VERSION is replaced at build time with a hash of the shell; a new release gets a new
// cache and the old one is removed once the new worker activates. Documents never live here
// (they are in IndexedDB), so an update never touches local data.
const VERSION = "BUILD_VERSION";
const CACHE = `signpost-shell-${VERSION}`;
const SHELL = ["/", "/index.html", "/app.css", "/signpost_client.js", "/signpost_client_bg.wasm", "/manifest.webmanifest", "/icon-192.png", "/icon-512.png", "/sw-shell.js", "/equality", "/cy/equality", "/equality.js", "/outbox.js", "/body-class.js", "/start.js"];

self.addEventListener("install", (event) => {
  // `reload`: straight from the relay, never a stale copy from the HTTP cache.
  const fresh = SHELL.map((path) => new Request(path, { cache: "reload" }))
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(fresh)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("signpost-shell-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  // Only the shell is served from the cache; the API and sync always go to the network.
  if (event.request.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/api/") || url.pathname === "/sync") {
    return;
  }
  // The equality form is one page whatever the volunteer in its query.
  const path = url.pathname === "/" ? "/index.html" : url.pathname;
  event.respondWith(
    caches.match(path).then((hit) => hit || fetch(event.request)),
  );
});
