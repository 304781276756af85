// The equality-monitoring outbox, shared by the form page (equality.js) and the service worker
// (sw.js): answers wait in IndexedDB ("signpost", store "meta", keys "equality:<volunteer>")
// until the relay has stored them, then leave the tablet. They never enter a document.
const DB = "signpost";
export const OUTBOX = "equality:";

export function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export function meta(db, mode, f) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction("meta", mode);
    const result = f(tx.objectStore("meta"));
    tx.oncomplete = () => resolve(result && result.result);
    tx.onerror = tx.onabort = () => reject(tx.error || new Error("the tablet refused to store the answers"));
  });
}

// The tablet's credential: the set-up the app keeps in IndexedDB (its first line).
async function token(db) {
  const setup = await meta(db, "readonly", (s) => s.get("setup"));
  return typeof setup === "string" ? setup.split("\n")[0] : null;
}

// Sends every waiting answer set; those stored (or refused for good) leave the tablet.
export async function flush(db) {
  const t = await token(db);
  if (!t) return 0;
  const keys = await meta(db, "readonly", (s) => s.getAllKeys(IDBKeyRange.bound(OUTBOX, OUTBOX + "\uffff")));
  let sent = 0;
  for (const key of keys || []) {
    const body = await meta(db, "readonly", (s) => s.get(key));
    let status = 0;
    try {
      const res = await fetch("/api/v1/equality", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${t}` }, body });
      status = res.status;
    } catch (_) {
      continue;
    }
    if (status === 201 || status === 400 || status === 404) {
      await meta(db, "readwrite", (s) => s.delete(key));
      if (status === 201) sent++;
    }
  }
  return sent;
}

