// The equality-monitoring form's behaviour (the page itself is /equality, rendered by the relay
// from the shared question list). Answers go to the outbox (outbox.js) and are sent at once when
// online; otherwise the service worker's background sync (sw.js) or the next visit to this page
// sends them.
import { OUTBOX, flush, meta, openDb } from "/outbox.js";

async function askBackgroundSync() {
  try {
    const reg = await navigator.serviceWorker.ready;
    if (reg.sync) await reg.sync.register("signpost-sync");
  } catch (_) {}
}

function show(id) {
  for (const el of document.querySelectorAll("[data-state]")) el.hidden = el.id !== id;
  const el = document.getElementById(id);
  if (el) el.focus();
}

document.addEventListener("DOMContentLoaded", async () => {
  const form = document.getElementById("equality-form");
  if (!form) return;
  const params = new URLSearchParams(location.search);
  const volunteer = params.get("volunteer") || "";
  document.getElementById("volunteer-name").textContent = params.get("name") || "";
  let db;
  try {
    db = await openDb();
    if (navigator.onLine) await flush(db);
  } catch (_) {}
  form.querySelector("button[type=submit]").disabled = false;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    if (!data.get("consent")) {
      document.getElementById("consent-error").hidden = false;
      document.getElementById("error-summary").hidden = false;
      document.getElementById("error-summary").focus();
      return;
    }
    const answers = {};
    for (const [k, v] of data.entries()) if (k !== "consent") answers[k] = v;
    try {
      db = db || (await openDb());
      await meta(db, "readwrite", (s) => s.put(JSON.stringify({ volunteer, answers }), OUTBOX + volunteer));
    } catch (_) {
      show("not-kept");
      return;
    }
    form.reset();
    const sent = navigator.onLine ? await flush(db).catch(() => 0) : 0;
    if (sent > 0) {
      show("sent");
    } else {
      show("kept");
      askBackgroundSync();
    }
  });
});
