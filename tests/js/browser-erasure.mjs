// A tablet through an erasure of one of its referrals: it logs two referrals online, goes
// offline and logs a third; meanwhile the referral is erased on the server. Back online, the app
// learns the day was replaced, carries its offline entry over and drops the old day: IndexedDB
// then holds no byte of the erased referral (raw records scanned, and every change of every
// stored document decoded), the desk shows the two others, and the relay counts them. Then,
// online, another referral's notes are redacted: the app follows at once, and IndexedDB holds no
// byte of those notes while the referral stays.
//
// Environment: SIGNPOST_URL, TOKEN, SITE_NAME, SCHEME, ADMIN_TOKEN.
import * as A from "@automerge/automerge"
import { check, counted, env, launch, onShift, otherAgency, records, tabletPage } from "./browser.mjs"

const [url, token, siteName, adminToken] = [env("SIGNPOST_URL"), env("TOKEN"), env("SITE_NAME"), env("ADMIN_TOKEN")]
const ERASED = "MARKER-ERASE-ME"
const today = new Date().toISOString().slice(0, 10)


// Each stored document loaded as the app loads it (base, then its changes in order).
function documents(r) {
  const out = {}
  for (const [id, base] of Object.entries(r.docs)) {
    let doc = A.load(new Uint8Array(base))
    for (const [, , bytes] of r.changes.filter(([c]) => c === id).sort((a, b) => a[1] - b[1])) {
      doc = A.loadIncremental(doc, new Uint8Array(bytes))
    }
    out[id] = doc
  }
  return out
}

// Whether the marker is anywhere: in a raw record, or in any change of any stored document
// (decoded, so that a deflated column cannot hide it).
function holds(r, marker) {
  const raw = [...Object.values(r.docs), ...Object.values(r.sync), ...r.changes.map(([, , b]) => b)]
  const bytes = new TextEncoder().encode(marker)
  const inRaw = raw.some((v) => Buffer.from(v).includes(Buffer.from(bytes)))
  const inHistory = Object.values(documents(r)).some((doc) =>
    A.getAllChanges(doc).some((c) => JSON.stringify(A.decodeChange(c)).includes(marker)),
  )
  return inRaw || inHistory
}

async function logOne(page, notes) {
  // A fresh form each time, as after the volunteer's last save.
  await page.reload()
  await page.getByRole("heading", { name: siteName }).waitFor({ timeout: 20000 })
  await onShift(page, "Ann E.")
  await page.getByLabel("Victim", { exact: true }).check()
  await page.getByLabel("Housing or accommodation").check()
  await otherAgency(page, "Food bank")
  await page.getByLabel("Signposted (contact details given)").check()
  await page.locator("#follow-up").check()
  await page.getByLabel("Notes (optional)").fill(notes)
  await page.getByRole("button", { name: "Save referral" }).click()
  await page.locator("#saved-message").waitFor()
}

const browser = await launch()
const report = {}
try {
  const { context, page, errors } = await tabletPage(browser)
  await page.goto(url)
  await page.getByLabel("Enrolment code").fill(token)
  await page.getByRole("button", { name: "Continue" }).click()
  await page.getByRole("heading", { name: siteName }).waitFor({ timeout: 20000 })
  await page.locator("#sync-state", { hasText: "Online" }).waitFor({ timeout: 10000 })
  await logOne(page, `${ERASED} called back`)
  await logOne(page, "MARKER-KEEP-ME")
  await page.locator("#sync-detail", { hasText: "synced" }).waitFor({ timeout: 10000 })
  await context.setOffline(true)
  await page.locator("#sync-state", { hasText: "Offline" }).waitFor({ timeout: 20000 })
  await logOne(page, "MARKER-OFFLINE")

  // The erasure, while the tablet is offline: the referral's id from the tablet's own copy.
  const before = await records(page)
  check(holds(before, ERASED), "the scan finds the marker before the erasure")
  const docs = documents(before)
  const [oldId, entry] = Object.entries(docs)
    .flatMap(([id, d]) => Object.keys(d).filter((k) => k.startsWith("referral:") && String(d[k].notes ?? "").includes(ERASED)).map((k) => [id, k.slice(9)]))[0]
  const res = await fetch(`${url}/api/v1/referrals/${entry}/erase`, { method: "POST", headers: { authorization: `Bearer ${adminToken}` } })
  check(res.status === 200, `erase answered ${res.status}`)
  const newId = (await res.json()).days[0].new
  report.replaced = oldId !== newId

  // Back online: the app follows the day to its replacement.
  await context.setOffline(false)
  let after
  for (let t = 0; t < 200; t++) {
    after = await records(page)
    if (!(oldId in after.docs) && newId in after.docs) break
    await new Promise((r) => setTimeout(r, 100))
  }
  report.oldDropped = !(oldId in after.docs) && !(oldId in after.sync) && !after.changes.some(([id]) => id === oldId)
  report.newHeld = newId in after.docs
  await page.locator("#sync-detail", { hasText: "synced" }).waitFor({ timeout: 20000 })
  after = await records(page)
  report.erasedOnTablet = holds(after, ERASED)
  report.offlineKept = holds(after, "MARKER-OFFLINE") && holds(after, "MARKER-KEEP-ME")

  // Then, with the tablet online, another referral's notes are redacted: the app follows the
  // day again at once (the relay tells it the day it holds is gone) and keeps the referral.
  const REDACTED = "MARKER-KEEP-ME"
  const kept = Object.entries(documents(after)[newId]).find(([k, v]) => k.startsWith("referral:") && String(v.notes ?? "") === REDACTED)[0].slice(9)
  const red = await fetch(`${url}/api/v1/referrals/${kept}/redact-notes`, { method: "POST", headers: { authorization: `Bearer ${adminToken}` } })
  check(red.status === 200, `redact-notes answered ${red.status}`)
  const thirdId = (await red.json()).days[0].new
  for (let t = 0; t < 200; t++) {
    after = await records(page)
    if (!(newId in after.docs) && thirdId in after.docs) break
    await new Promise((r) => setTimeout(r, 100))
  }
  report.followedRedaction = !(newId in after.docs) && thirdId in after.docs
  report.redactedOnTablet = holds(after, REDACTED)
  const third = documents(after)[thirdId]
  report.redactedKept = third !== undefined && `referral:${kept}` in third && third[`referral:${kept}`].notes === undefined
  report.counted = await counted(today, today)
  // The desk lists the two that stay, after a reload too.
  await page.reload()
  await page.getByRole("heading", { name: siteName }).waitFor({ timeout: 20000 })
  await page.locator("tr.referral-row").nth(1).waitFor({ timeout: 10000 })
  report.rows = await page.locator("tr.referral-row").count()
  await page.screenshot({ path: "../../target/browser-erasure.png", fullPage: true })
  check(errors.length === 0, `page errors: ${errors.join("; ")}`)
  report.ok = true
} finally {
  await browser.close()
}
console.log(JSON.stringify(report))
