// Erasure against unmodified automerge-repo 2.x peers (Node): a peer that holds the day's old
// history keeps writing to it after a referral was erased, and is refused (doc-unavailable,
// nothing stored); a fresh peer finds the old day unavailable and reads the rewritten one, which
// holds the rest of the day and a tombstone in place of the erased referral.
//
// Environment: SIGNPOST_URL, SCHEME, SITE_A, DAY, TOKEN_A1, TOKEN_A2, ADMIN_TOKEN. Prints one
// JSON line; exits non-zero on the first failed check.
import { interpretAsDocumentId, stringifyAutomergeUrl } from "@automerge/automerge-repo"
import * as A from "@automerge/automerge"
import { check, deskDayUrl, env, findOutcome, repo, repos, waitFor } from "./peers.mjs"

const [SCHEME, SITE_A, DAY] = [env("SCHEME"), env("SITE_A"), env("DAY")]
const http = env("SIGNPOST_URL")
const referral = (notes) => ({
  recordedAt: new Date(), helped: "victim", categories: { housing: true },
  agencyOther: "Local refuge", help: "referred", followUp: false, notes,
})

// 1. The day, written as docs/schema.md says, with two referrals; a second peer sees both.
const url = deskDayUrl(SITE_A, DAY)
const holder = repo(env("TOKEN_A1"))
const header = { type: "signpost/desk-day", schema: 1, scheme: SCHEME, site: SITE_A, date: DAY }
const handle = holder.import(A.save(A.from(header)), { docId: interpretAsDocumentId(url.replace("automerge:", "")) })
handle.change((d) => {
  d["referral:js-keep"] = referral("MARKER-JS-KEEP")
  d["referral:js-gone"] = referral("MARKER-JS-GONE")
})
const reader = repo(env("TOKEN_A2"))
await waitFor(15000, async () => {
  const o = await findOutcome(reader, url, 2000)
  return o.found && o.doc["referral:js-gone"]
}, "the day reaches the relay")

// 2. The erasure.
const res = await fetch(`${http}/api/v1/referrals/js-gone/erase`, { method: "POST", headers: { authorization: `Bearer ${env("ADMIN_TOKEN")}` } })
check(res.status === 200, `erase answered ${res.status}`)
const newUrl = stringifyAutomergeUrl({ documentId: (await res.json()).days[0].new })

// 3. The peer still holding the old history writes to it: the erased referral again, and a new
//    one. The relay refuses the old id; nothing of it is stored (checked by the caller).
handle.change((d) => {
  d["referral:js-gone"].followUp = true
  d["referral:js-after"] = referral("MARKER-JS-AFTER")
})
await new Promise((r) => setTimeout(r, 1500))

// 4. A fresh peer: the old day is unavailable, the rewritten one readable.
const fresh = repo(env("TOKEN_A2"))
const old = await findOutcome(fresh, url, 3000)
check(!old.found, "the old day is unavailable to a fresh peer")
const rewritten = await waitFor(15000, async () => {
  const o = await findOutcome(fresh, newUrl, 2000)
  return o.found ? o.doc : null
}, "a fresh peer reads the rewritten day")
check(rewritten["referral:js-keep"] && String(rewritten["referral:js-keep"].notes) === "MARKER-JS-KEEP", "the rest of the day is there")
check(!rewritten["referral:js-gone"] && rewritten["erased:js-gone"] === true, "the erased referral is not, its tombstone is")
check(!rewritten["referral:js-after"], "nothing written to the old day reached the new one")
check(A.getAllChanges(rewritten).length === 1, "the rewritten day has one change")

console.log(JSON.stringify({ ok: true, old: url, new: newUrl }))
for (const r of repos) r.shutdown?.()
process.exit(0)
