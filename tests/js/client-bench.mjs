// Tablet benchmark in headless Chromium (Debian's, driven by playwright-core), against the real
// relay serving the built app. Prints one JSON line.
// - bytes a tablet downloads: wasm + js + css as the relay serves them, gzip and brotli
// - tap "Save referral" → durable in IndexedDB: the app's own performance.measure
//   ("signpost:save-durable", from the submit handler to the IndexedDB commit)
// - cold start offline, with 5,000 referrals (100 days × 50) in IndexedDB: navigation start →
//   the desk ready to log ("signpost:desk-ready" mark, and the form visible)
//
// Environment: SIGNPOST_URL, TOKEN, SITE_NAME, DIST, FIXTURE (JSON from `signpost-bench
// client-fixture`), SAVES (default 200).
import { launch, onShift } from "./browser.mjs"
import { readFileSync } from "node:fs"
import http from "node:http"

const env = (k, d) => {
  const v = process.env[k] ?? d
  if (v === undefined) throw new Error(`missing environment variable ${k}`)
  return v
}
const [url, token, siteName, dist, fixture] = [env("SIGNPOST_URL"), env("TOKEN"), env("SITE_NAME"), env("DIST"), env("FIXTURE")]
// A referral is logged by the volunteer on the desk: the roster has one.
const added = await fetch(`${url}/api/v1/schemes/${env("SCHEME")}/volunteers`, {
  method: "POST",
  headers: { authorization: `Bearer ${env("ADMIN_TOKEN")}`, "content-type": "application/json" },
  body: JSON.stringify({ name: "Bench V." }),
})
if (added.status !== 201) throw new Error(`could not add a volunteer: ${added.status}`)
const saves = Number(env("SAVES", "200"))

// Bytes on the wire as the relay serves a file to a browser that accepts `encoding`.
const served = (path, encoding) =>
  new Promise((resolve, reject) => {
    http.get(`${url}/${path}`, { headers: { "accept-encoding": encoding } }, (res) => {
      let n = 0
      res.on("data", (c) => (n += c.length))
      res.on("end", () => (res.headers["content-encoding"] === encoding ? resolve(n) : reject(new Error(`${path} not served with ${encoding}`))))
    }).on("error", reject)
  })
async function download(encoding) {
  const bytes = {}
  for (const [k, f] of [["wasm", "signpost_client_bg.wasm"], ["js", "signpost_client.js"], ["css", "app.css"]]) bytes[k] = await served(f, encoding)
  bytes.total = bytes.wasm + bytes.js + bytes.css
  return bytes
}

const q = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]
}

const browser = await launch()
const result = { bytes_gzip: await download("gzip"), bytes_br: await download("br") }
try {
  // Saves.
  const context = await browser.newContext({ viewport: { width: 768, height: 1024 } })
  const page = await context.newPage()
  await page.goto(url)
  await page.getByLabel("Enrolment code").fill(token)
  await page.getByRole("button", { name: "Continue" }).click()
  await page.getByRole("heading", { name: siteName }).waitFor({ timeout: 20000 })
  await page.getByLabel("Bench V.", { exact: true }).waitFor({ timeout: 20000 })
  await onShift(page, "Bench V.")
  for (let i = 0; i < saves; i++) {
    await page.evaluate(() => {
      document.querySelector("#helped").checked = true
      document.querySelector("#category").checked = true
      document.querySelector("input[name=agency][value=other]").checked = true
      document.querySelector("#agency-other").value = "Bench agency"
      document.querySelector("#help").checked = true
      document.querySelector("#follow-up").checked = true
    })
    await page.evaluate(() => document.querySelector("form button[type=submit]").click())
    await page.waitForFunction((n) => performance.getEntriesByName("signpost:save-durable").length >= n, i + 1)
  }
  const durable = await page.evaluate(() => performance.getEntriesByName("signpost:save-durable").map((e) => e.duration))
  result.save_to_durable_ms = { n: durable.length, p50: q(durable, 0.5), p99: q(durable, 0.99), max: Math.max(...durable) }
  await context.close()

  // Cold start offline with 5,000 stored referrals.
  const docs = JSON.parse(readFileSync(fixture, "utf8"))
  const ctx2 = await browser.newContext({ viewport: { width: 768, height: 1024 } })
  const p2 = await ctx2.newPage()
  await p2.goto(url)
  await p2.getByLabel("Enrolment code").fill(token)
  await p2.getByRole("button", { name: "Continue" }).click()
  await p2.getByRole("heading", { name: siteName }).waitFor({ timeout: 20000 })
  await p2.evaluate(() => navigator.serviceWorker.ready)
  await p2.evaluate(async (docs) => {
    const db = await new Promise((ok, err) => {
      const r = indexedDB.open("signpost")
      r.onsuccess = () => ok(r.result)
      r.onerror = () => err(r.error)
    })
    const tx = db.transaction("docs", "readwrite")
    for (const [id, b64] of docs) {
      const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
      tx.objectStore("docs").put(bin, id)
    }
    await new Promise((ok) => (tx.oncomplete = ok))
    db.close()
  }, docs)
  await ctx2.setOffline(true)
  const runs = []
  for (let r = 0; r < 5; r++) {
    await p2.reload()
    await p2.locator("#log-heading").waitFor({ timeout: 30000 })
    runs.push(await p2.evaluate(() => ({ ready: performance.getEntriesByName("signpost:desk-ready")[0]?.startTime, visible: performance.now() })))
  }
  result.cold_start_offline_ms = {
    stored_referrals: docs.length * 50,
    stored_documents: docs.length,
    desk_ready_median: q(runs.map((r) => r.ready), 0.5),
    form_visible_median: q(runs.map((r) => r.visible), 0.5),
    runs,
  }
  await ctx2.close()
} finally {
  await browser.close()
}
console.log(JSON.stringify(result))
