// Signpost service worker (release BUILD_VERSION) where the browser has Background Sync: the app
// shell part, plus sending entries that wait to sync once the network returns, even with the app
// closed. The sync itself is the app's own code (`background_sync` in the wasm module).
import "/sw-shell.js";
import init, { background_sync } from "/signpost_client.js";
import { flush as sendEqualityAnswers, openDb } from "/outbox.js";

const TAG = "signpost-sync";
// Held by the open app (index.html) and by a background sync: never both at once.
const LOCK = "signpost-local-data";

async function syncWaitingEntries(lastChance) {
  const left = await navigator.locks.request(LOCK, { ifAvailable: true }, async (lock) => {
    // An open app syncs by itself (and holds the lock, or is about to).
    if (!lock || (await self.clients.matchAll({ type: "window" })).length > 0) return -1;
    const wasm = await caches.match("/signpost_client_bg.wasm");
    await init({ module_or_path: wasm || "/signpost_client_bg.wasm" });
    const left = await background_sync();
    // Equality-monitoring answers waiting in the outbox (they are not documents).
    await sendEqualityAnswers(await openDb()).catch(() => 0);
    return left;
  });
  // Failing asks the browser to try again later (a few times, backing off).
  if (left === -1 && !lastChance) throw new Error("Signpost is open on this tablet and syncs by itself; trying later");
  if (left > 0 && !lastChance) throw new Error(`${left} documents are still waiting to sync; trying later`);
}

self.addEventListener("sync", (event) => {
  if (event.tag === TAG) event.waitUntil(syncWaitingEntries(event.lastChance));
});
