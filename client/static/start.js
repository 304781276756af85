// Starts the tablet app (a file of its own, not inline, so the app's Content-Security-Policy
// allows scripts from this origin only).
import init from "/signpost_client.js";

// One writer of the tablet's local data at a time: this page holds the lock while it is open,
// a background sync (sw.js) while it runs.
const LOCK = "signpost-local-data";
const start = () => {
  document.getElementById("waiting-for-lock").remove();
  return init().then(() => new Promise(() => {}));
};
if (navigator.locks) {
  navigator.locks.request(LOCK, { ifAvailable: true }, (lock) => {
    if (lock) return start();
    document.getElementById("waiting-for-lock").hidden = false;
    return navigator.locks.request(LOCK, start);
  });
} else {
  start();
}
if ("serviceWorker" in navigator) {
  // Background Sync (Chromium) needs the module worker; elsewhere the shell worker alone.
  const withSync = "SyncManager" in window;
  navigator.serviceWorker
    .register(withSync ? "/sw.js" : "/sw-shell.js", { type: withSync ? "module" : "classic", updateViaCache: "none" })
    .catch((e) => console.warn("offline support unavailable", e));
}
