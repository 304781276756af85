// Interop check: unmodified automerge-repo 2.x peers (Node) against the Signpost relay.
//
// Environment: SIGNPOST_URL (http://127.0.0.1:PORT), SCHEME, SITE_A, DAY, TOKEN_A1, TOKEN_A2,
// TOKEN_B. Prints one JSON line with what it saw; exits non-zero on the first failed check.
// It writes referrals exactly as docs/schema.md tells a third-party client to.
import { Repo, interpretAsDocumentId } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import * as A from "@automerge/automerge"
import WebSocket from "ws"
import { check, deskDayUrl, env, findOutcome, repo, repos, syncUrl, waitFor } from "./peers.mjs"

const [SCHEME, SITE_A, DAY] = [env("SCHEME"), env("SITE_A"), env("DAY")]

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
