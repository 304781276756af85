// Interop check: unmodified automerge-repo 2.x peers (Node) against the Signpost relay.
//
// Environment: SIGNPOST_URL (http://127.0.0.1:PORT), SCHEME, SITE_A, DAY, TOKEN_A1, TOKEN_A2,
// TOKEN_B. Prints one JSON line with what it saw; exits non-zero on the first failed check.
// It writes referrals exactly as docs/schema.md tells a third-party client to.
import { Repo, interpretAsDocumentId, stringifyAutomergeUrl } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import * as A from "@automerge/automerge"
import { createHash } from "node:crypto"
import WebSocket from "ws"

const env = (k) => {
  const v = process.env[k]
  if (!v) throw new Error(`missing environment variable ${k}`)
  return v
}
const base = env("SIGNPOST_URL").replace(/^http/, "ws")
const [SCHEME, SITE_A, DAY] = [env("SCHEME"), env("SITE_A"), env("DAY")]
const syncUrl = (token) => (token ? `${base}/sync?token=${encodeURIComponent(token)}` : `${base}/sync`)

function check(cond, what) {
  if (!cond) {
    console.error(`interop check failed: ${what}`)
    process.exit(1)
  }
}

// docs/schema.md, "Well-known document ids": the first 16 bytes of
// SHA-256("signpost/desk-day/<site>/<YYYY-MM-DD>") with the UUID version-4 and variant bits set,
// as an automerge document id.
function deskDayUrl(site, day) {
  const bytes = new Uint8Array(createHash("sha256").update(`signpost/desk-day/${site}/${day}`).digest().subarray(0, 16))
  bytes[6] = (bytes[6] & 0x0f) | 0x40
  bytes[8] = (bytes[8] & 0x3f) | 0x80
  const documentId = interpretAsDocumentId(bytes)
  return stringifyAutomergeUrl({ documentId })
}

const repos = []
function repo(token) {
  const r = new Repo({ network: [new WebSocketClientAdapter(syncUrl(token), 200)], sharePolicy: async () => true })
  repos.push(r)
  return r
}

async function within(ms, promise, what) {
  let timer
  const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)))
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

async function findOutcome(r, url, ms) {
  try {
    const h = await within(ms, r.find(url), "find")
    return { found: true, doc: h.doc() }
  } catch (e) {
    return { found: false, reason: String(e.message || e) }
  }
}

async function waitFor(ms, fn, what) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const v = await fn()
    if (v) return v
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timeout: ${what}`)
}

const referral = (id, extra) => ({
  recordedAt: new Date(),
  volunteer: "js-volunteer",
  helped: "victim",
  ageBand: "25-34",
  categories: { "domestic-abuse": true, housing: true },
  agencyOther: "Local refuge",
  help: "referred",
  followUp: true,
  notes: "written by an unmodified automerge-repo client",
  ...extra,
})

const seen = {}
const url = deskDayUrl(SITE_A, DAY)

// 1. Writer with site A's first credential: open the day document; nobody has it yet, so
//    create it under its well-known id, then log a referral.
const writer = repo(env("TOKEN_A1"))
const before = await findOutcome(writer, url, 5000)
check(!before.found, "a fresh relay does not have today's document")
const header = { type: "signpost/desk-day", schema: 1, scheme: SCHEME, site: SITE_A, date: DAY }
const handle = writer.import(A.save(A.from(header)), { docId: interpretAsDocumentId(url.replace("automerge:", "")) })
handle.change((d) => {
  d["referral:js-1"] = referral("js-1")
})

// A second document created the usual automerge-repo way (random id, content in a later
// change) is counted too.
const other = writer.create()
other.change((d) => Object.assign(d, { ...header, "referral:js-2": referral("js-2", { helped: "witness" }) }))

// 2. Reader with site A's second credential reads it back.
const reader = repo(env("TOKEN_A2"))
const got = await waitFor(15000, async () => {
  const o = await findOutcome(reader, url, 2000)
  return o.found && o.doc["referral:js-1"] ? o.doc : null
}, "site A's second tablet reads the referral")
const r = got["referral:js-1"]
check(r.helped.toString() === "victim" && r.categories.housing === true, "the referral's fields survive the round trip")
seen.readBack = true

// 2b. The pattern that once locked tablets out: a client synced some entries, then made several
//     changes with no connection, then reconnected. automerge sends the missing changes packed
//     into one chunk; the relay must take them.
for (let i = 0; i < 6; i++) {
  handle.change((d) => {
    d[`referral:js-on-${i}`] = referral(`js-on-${i}`, { categories: { "mental-health": true } })
  })
}
await waitFor(15000, async () => {
  const o = await findOutcome(reader, url, 2000)
  return o.found && o.doc["referral:js-on-5"]
}, "the online referrals reach the relay")
const offlineRepo = new Repo({ network: [], sharePolicy: async () => true })
repos.push(offlineRepo)
const offline = offlineRepo.import(A.save(handle.doc()), { docId: interpretAsDocumentId(url.replace("automerge:", "")) })
for (let i = 0; i < 3; i++) {
  offline.change((d) => {
    d[`referral:js-off-${i}`] = referral(`js-off-${i}`, { categories: { "mental-health": true }, followUp: true })
  })
}
offlineRepo.networkSubsystem.addNetworkAdapter(new WebSocketClientAdapter(syncUrl(env("TOKEN_A1")), 200))
await waitFor(15000, async () => {
  const o = await findOutcome(reader, url, 2000)
  return o.found && o.doc["referral:js-off-2"]
}, "the changes made offline reach the relay after reconnecting")
seen.offlineChangesAccepted = true

// 3. Another site's credential: unavailable, never content.
const otherSite = repo(env("TOKEN_B"))
const b = await findOutcome(otherSite, url, 5000)
check(!b.found, "site B's tablet cannot get site A's document")
seen.otherSiteRefused = b.reason

// 4. No credential: the upgrade is refused with HTTP 401, and a repo without one gets nothing.
const status = await new Promise((resolve) => {
  const ws = new WebSocket(syncUrl(null))
  ws.on("unexpected-response", (_req, res) => resolve(res.statusCode))
  ws.on("open", () => resolve(101))
  ws.on("error", () => resolve(-1))
})
check(status === 401, `no token gives HTTP 401 (got ${status})`)
// The unmodified adapter surfaces the refused upgrade as an uncaught error.
let anonymousRefused = false
process.on("uncaughtException", (e) => {
  if (String(e.message).includes("401")) anonymousRefused = true
  else throw e
})
const anonymous = repo(null)
const anon = await findOutcome(anonymous, url, 3000)
check(!anon.found, "a repo without a credential gets nothing")
check(anonymousRefused, "the repo without a credential was refused with 401")
seen.noTokenStatus = status

// Give the second document time to reach the relay before reporting.
await waitFor(15000, async () => {
  const o = await findOutcome(reader, other.url, 2000)
  return o.found && o.doc["referral:js-2"]
}, "the randomly-named document reaches the relay")

console.log(JSON.stringify({ ok: true, url, second: other.url, ...seen }))
for (const r of repos) r.shutdown?.()
process.exit(0)
