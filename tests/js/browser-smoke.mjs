// Browser check of the tablet app, in headless Debian Chromium driven by playwright-core:
// set-up screen (validation in the GOV.UK error-summary pattern, a refused credential, a good one),
// the desk screen with its live sync state, persistence across reload, and axe-core (WCAG 2.x
// A/AA) on every screen, at 768 px wide.
//
// Then offline: three referrals logged with no network survive a reload and reach the relay's
// statistics once the tablet is back online.
//
// Then a second tablet at the same desk: both correct the same entry while offline and, once
// reconnected, both show the merged entry; a void drops it from the relay's count.
//
// Then a new release is deployed while the tablet holds an unsynced entry: the new service
// worker takes over, the entry is still there, and it syncs. And an entry saved offline reaches
// the relay through background sync after the app is closed.
//
// Environment: SIGNPOST_URL, TOKEN and TOKEN2 (two device credentials of one site), SITE_NAME,
// SCHEME, ADMIN_TOKEN, STATIC_DIR (the folder the relay serves the app from).
import { readFileSync, writeFileSync } from "node:fs"
import { axe as runAxe, check, env, fitsWidth, launch, otherAgency, watch } from "./browser.mjs"

const [url, token, siteName, scheme, adminToken] = [env("SIGNPOST_URL"), env("TOKEN"), env("SITE_NAME"), env("SCHEME"), env("ADMIN_TOKEN")]
const token2 = env("TOKEN2")

async function summary() {
  const day = new Date().toISOString().slice(0, 10)
  const res = await fetch(`${url}/api/v1/stats/summary?scheme=${scheme}&from=${day}&to=${day}`, { headers: { authorization: `Bearer ${adminToken}` } })
  return res.json()
}
const counted = async () => (await summary()).referrals

const browser = await launch()
const report = { screens: {} }
let page
try {
  const context = await browser.newContext({ viewport: { width: 768, height: 1024 } })
  page = await context.newPage()
  const errors = []
  watch(page, errors)

  const axe = (name) => runAxe(page, name, report)

  await page.goto(url)
  await page.getByRole("heading", { name: "Set up this tablet" }).waitFor({ timeout: 20000 })
  await axe("set-up")

  // Nothing entered: the error summary appears, takes focus and links to the field.
  await page.getByRole("button", { name: "Continue" }).click()
  await page.locator("#error-summary").waitFor()
  check(await page.locator("#error-summary").evaluate((el) => el === document.activeElement), "error summary has focus")
  check((await page.locator(".govuk-error-message").innerText()).includes("Enter the enrolment code"), "field error message")
  await axe("set-up with an error")

  // A well-formed credential the relay does not know.
  await page.getByLabel("Enrolment code").fill("spd_" + "x".repeat(43))
  await page.getByRole("button", { name: "Continue" }).click()
  await page.getByText("This credential is not recognised").first().waitFor()

  // The real one: the desk screen, named after the site, goes online.
  await page.getByLabel("Enrolment code").fill(token)
  await page.getByRole("button", { name: "Continue" }).click()
  await page.getByRole("heading", { name: siteName }).waitFor({ timeout: 10000 })
  await page.locator("#sync-state", { hasText: "Online" }).waitFor({ timeout: 10000 })
  await axe("desk")
  // Nobody is on the desk: the desk asks who is before a referral can be logged.
  await page.locator("#start-shift-first").waitFor()
  check(!(await page.getByRole("button", { name: "Save referral" }).isVisible()), "no referral without someone on the desk")

  // The roster: pick yourself and start a shift.
  await page.getByLabel("Ann E.").check()
  await page.getByRole("button", { name: "Start shift" }).click()
  await page.locator("#on-desk", { hasText: "Ann E. is on the desk" }).waitFor()
  await axe("desk on shift")
  await fitsWidth(page, "the desk")

  // The credential survives a reload.
  await page.reload()
  await page.getByRole("heading", { name: siteName }).waitFor({ timeout: 10000 })
  await page.locator("#sync-state", { hasText: "Online" }).waitFor({ timeout: 10000 })

  // Large tap targets: every button at least 44 px high.
  const small = await page.$$eval("button", (bs) => bs.filter((b) => b.getBoundingClientRect().height < 44).length)
  check(small === 0, `${small} buttons are under 44 px high`)
  // The log form starts with no answer given: nothing a volunteer did not choose is recorded.
  const noAgency = async () => (await page.locator('input[name="agency"]:checked').count()) === 0
  check((await page.locator("#age-band").inputValue()) === "", "age band starts as not asked")
  check(await noAgency(), "agency starts unselected")
  // The agency list: narrowed to the issues ticked, searchable; "another agency" reveals its field.
  const listed = async () => (await page.locator('input[name="agency"]').evaluateAll((is) => is.map((i) => i.labels[0].innerText.trim())))
  const everyone = await listed()
  check(everyone.includes("Samaritans") && everyone.includes("Shelter"), `the directory is listed: ${everyone}`)
  check(!(await page.getByLabel("Other agency's name").isVisible()), "the other agency's field is hidden until chosen")
  await page.getByLabel("Mental health").check()
  const narrowed = await listed()
  check(narrowed.includes("Samaritans") && !narrowed.includes("Shelter"), `ticking mental health narrows the list: ${narrowed}`)
  await page.getByLabel("Search the directory").fill("shel")
  const found = await listed()
  check(found.includes("Shelter") && !found.includes("Samaritans"), `the search looks through every agency: ${found}`)
  await page.getByLabel("Search the directory").press("Enter")
  check(!(await page.locator("#error-summary").isVisible()), "Enter in the search does not submit the form")
  await page.getByLabel("Search the directory").fill("")
  await page.getByLabel("Mental health").uncheck()
  // Notes count down as they are typed.
  await page.locator("#notes").fill("Next hearing Tuesday")
  await page.locator("#notes-info", { hasText: "You have 480 characters remaining" }).waitFor()
  await page.locator("#notes").fill("x".repeat(502))
  await page.locator("#notes-info", { hasText: "You have 2 characters too many" }).waitFor()
  await page.locator("#notes").fill("")
  // Validation first.
  await page.getByRole("button", { name: "Save referral" }).click()
  await page.locator("#error-summary").waitFor()
  check((await page.locator("#error-summary").innerText()).includes("Select who was helped"), "form errors listed")
  check((await page.locator("#error-summary").innerText()).includes("Select whether follow-up is needed"), "follow-up must be answered")
  await axe("log form with errors")
  await page.getByLabel("Another agency (not in the directory)").check()
  await page.getByLabel("Other agency's name").waitFor()
  await axe("log form with another agency")

  // Offline: the app shell comes from the service worker, entries go to IndexedDB.
  await page.evaluate(() => navigator.serviceWorker.ready)
  await context.setOffline(true)
  await page.reload()
  await page.getByRole("heading", { name: siteName }).waitFor({ timeout: 10000 })
  await page.locator("#sync-state", { hasText: "Offline" }).waitFor({ timeout: 15000 })
  for (let i = 1; i <= 3; i++) {
    await page.getByLabel("Victim", { exact: true }).check()
    await page.getByLabel("Housing or accommodation").check()
    await otherAgency(page, `Food bank ${i}`)
    await page.getByLabel("Signposted (contact details given)").check()
    await page.locator("#follow-up").check()
    await page.getByRole("button", { name: "Save referral" }).click()
    await page.locator("#saved-message").waitFor()
    await page.locator("tr.referral-row").nth(i - 1).waitFor()
    check((await page.locator("#age-band").inputValue()) === "" && (await noAgency()), "the form is empty again after saving")
    // The next referral starts at the top, with what was saved in view.
    check((await page.evaluate(() => window.scrollY)) === 0, "the page is back at the top after saving")
    check(await page.locator("#saved-message").isVisible(), "the confirmation is in view")
  }
  check((await page.locator("#sync-detail").innerText()).includes("3 entries waiting to sync"), "three waiting")
  // The desk log says who logged each entry and which still wait to sync.
  const first = await page.locator("tr.referral-row").first().innerText()
  check(first.includes("Ann E.") && first.includes("Waiting to sync"), `the row says who and that it waits: ${first}`)
  check((await counted()) === 0, "nothing reached the relay while offline")
  await page.reload()
  await page.getByRole("heading", { name: siteName }).waitFor({ timeout: 10000 })
  await page.locator("tr.referral-row").nth(2).waitFor({ timeout: 10000 })
  check((await page.locator("tr.referral-row").count()) === 3, "all three still listed after an offline reload")
  await axe("desk with entries")

  // Back online: they sync and are counted.
  await context.setOffline(false)
  await page.locator("#sync-state", { hasText: "Online" }).waitFor({ timeout: 40000 })
  let n = 0
  for (let t = 0; t < 100 && n !== 3; t++) {
    n = await counted()
    if (n !== 3) await new Promise((r) => setTimeout(r, 100))
  }
  check(n === 3, `the relay counts 3 referrals (got ${n})`)
  await page.locator("#sync-detail", { hasText: "synced" }).waitFor({ timeout: 10000 })
  await page.waitForFunction(() => document.querySelectorAll(".signpost-waiting").length === 0, null, { timeout: 10000 })
  report.offline = { logged: 3, counted: n }

  // A second tablet at the desk receives the day's entries.
  const contextB = await browser.newContext({ viewport: { width: 768, height: 1024 } })
  const pageB = await contextB.newPage()
  watch(pageB, errors)
  await pageB.goto(url)
  await pageB.getByLabel("Enrolment code").fill(token2)
  await pageB.getByRole("button", { name: "Continue" }).click()
  await pageB.locator("#sync-state", { hasText: "Online" }).waitFor({ timeout: 10000 })
  await pageB.locator("tr.referral-row").nth(2).waitFor({ timeout: 10000 })
  await pageB.evaluate(() => navigator.serviceWorker.ready)

  // Both go offline and correct different fields of the same entry.
  for (const [ctx, pg] of [[context, page], [contextB, pageB]]) {
    await ctx.setOffline(true)
    await pg.reload()
    await pg.locator("#sync-state", { hasText: "Offline" }).waitFor({ timeout: 15000 })
  }
  const row = (pg) => pg.locator("tr.referral-row", { hasText: "Food bank 1" })
  await row(page).getByRole("button", { name: /Change/ }).click()
  await page.getByRole("heading", { name: /Correct the referral/ }).waitFor()
  check(await page.getByLabel("Victim", { exact: true }).isChecked(), "the correction form shows the entry's values")
  await axe("correct a referral")
  await page.getByLabel("Witness", { exact: true }).check()
  await page.getByRole("button", { name: "Save correction" }).click()
  await page.locator("#saved-message", { hasText: "corrected" }).waitFor()
  await row(pageB).getByRole("button", { name: /Change/ }).click()
  await pageB.getByLabel("Debt, benefits and finance").check()
  await pageB.getByRole("button", { name: "Save correction" }).click()
  await pageB.locator("#saved-message", { hasText: "corrected" }).waitFor()

  // Reconnected, both tablets show both corrections.
  for (const [ctx] of [[context], [contextB]]) await ctx.setOffline(false)
  for (const pg of [page, pageB]) {
    await row(pg).filter({ hasText: "Witness" }).filter({ hasText: "Debt, benefits and finance" }).waitFor({ timeout: 40000 })
  }
  report.merged = true

  // Voiding: kept in the log, out of the count.
  await page.locator("tr.referral-row", { hasText: "Food bank 2" }).getByRole("button", { name: /Change/ }).click()
  await page.getByLabel("Why is it void?").fill("Logged twice")
  await page.getByRole("button", { name: "Void referral" }).click()
  await page.locator("tr.referral-row", { hasText: "Food bank 2" }).filter({ hasText: "Void" }).waitFor()
  n = 0
  for (let t = 0; t < 100 && n !== 2; t++) {
    n = await counted()
    if (n !== 2) await new Promise((r) => setTimeout(r, 100))
  }
  check(n === 2, `a void referral is not counted (got ${n})`)
  report.voided = true

  // A new release while an entry waits to sync. /sync is held shut so the entry stays unsynced.
  let blockSync = true
  await context.routeWebSocket(/\/sync/, (ws) => (blockSync ? ws.close() : ws.connectToServer()))
  await page.reload()
  await page.locator("#sync-state", { hasText: "Offline" }).waitFor({ timeout: 15000 })
  await page.getByLabel("Prisoner", { exact: true }).check()
  await page.getByLabel("Employment, training and education").check()
  await otherAgency(page, "Food bank 4")
  await page.getByLabel("Information given").check()
  await page.locator("#follow-up").check()
  await page.getByRole("button", { name: "Save referral" }).click()
  await page.locator("tr.referral-row", { hasText: "Food bank 4" }).waitFor()
  const cacheBefore = await page.evaluate(async () => (await caches.keys()).join())
  const staticDir = env("STATIC_DIR")
  const shell = readFileSync(`${staticDir}/sw-shell.js`, "utf8")
  const release = shell.match(/const VERSION = "([^"]*)"/)[1]
  for (const f of ["sw.js", "sw-shell.js"]) {
    writeFileSync(`${staticDir}/${f}`, readFileSync(`${staticDir}/${f}`, "utf8").replaceAll(release, `${release}-next`))
  }
  await page.evaluate(async () => (await navigator.serviceWorker.getRegistration()).update())
  await page.waitForFunction((old) => caches.keys().then((k) => k.length === 1 && k.join() !== old), cacheBefore, { timeout: 20000 })
  await page.reload()
  await page.locator("tr.referral-row", { hasText: "Food bank 4" }).waitFor({ timeout: 10000 })
  check((await page.locator("#sync-detail").innerText()).includes("1 entry waiting to sync"), "the entry is still waiting after the update")
  blockSync = false
  await page.reload()
  n = 0
  for (let t = 0; t < 150 && n !== 3; t++) {
    n = await counted()
    if (n !== 3) await new Promise((r) => setTimeout(r, 100))
  }
  check(n === 3, `the entry kept through the update syncs (count ${n})`)
  report.updated = { cacheBefore, cacheAfter: await page.evaluate(async () => (await caches.keys()).join()) }

  // Background sync: an entry saved offline reaches the relay after the app is closed. The page
  // registered a Background Sync; the browser fires it when the network is back (here through
  // DevTools, as the test cannot unplug the machine), and the service worker sends the entry.
  await context.grantPermissions(["background-sync"])
  await page.locator("#sync-state", { hasText: "Online" }).waitFor({ timeout: 15000 })
  await context.setOffline(true)
  await page.reload()
  await page.locator("#sync-state", { hasText: "Offline" }).waitFor({ timeout: 15000 })
  await page.getByLabel("Victim", { exact: true }).check()
  await page.getByLabel("Debt, benefits and finance").check()
  await otherAgency(page, "Food bank 5")
  await page.getByLabel("Information given").check()
  await page.locator("#follow-up").check()
  await page.getByRole("button", { name: "Save referral" }).click()
  await page.locator("tr.referral-row", { hasText: "Food bank 5" }).waitFor()
  check((await page.locator("#sync-detail").innerText()).includes("1 entry waiting to sync"), "the entry waits to sync")
  const tags = await page.evaluate(async () => (await navigator.serviceWorker.ready).sync.getTags())
  check(tags.includes("signpost-sync"), `a background sync is registered (${tags})`)
  const beforeClose = await counted()
  await page.close()
  await context.setOffline(false)
  const blank = await context.newPage()
  const cdp = await context.newCDPSession(blank)
  const registration = new Promise((resolve) =>
    cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations }) => {
      const r = registrations.find((r) => r.scopeURL.startsWith(url) && !r.isDeleted)
      if (r) resolve(r)
    }),
  )
  await cdp.send("ServiceWorker.enable")
  const { registrationId } = await registration
  await cdp.send("ServiceWorker.dispatchSyncEvent", { origin: new URL(url).origin, registrationId, tag: "signpost-sync", lastChance: false })
  n = 0
  for (let t = 0; t < 150 && n !== beforeClose + 1; t++) {
    n = await counted()
    if (n !== beforeClose + 1) await new Promise((r) => setTimeout(r, 100))
  }
  check(n === beforeClose + 1, `the service worker synced the entry with the app closed (count ${beforeClose} → ${n})`)
  await blank.close()
  page = await context.newPage()
  watch(page, errors)
  await page.goto(url)
  await page.locator("#sync-state", { hasText: "Online" }).waitFor({ timeout: 15000 })
  check((await page.locator("#sync-detail").innerText()).includes("Everything is saved on this tablet and synced"), "nothing waits after background sync")
  report.backgroundSync = { before: beforeClose, after: n }

  // End of the shift: hours are counted for Ann, who logged the referrals.
  await page.locator("#on-desk", { hasText: "Ann E. is on the desk" }).waitFor({ timeout: 10000 })
  await page.getByRole("button", { name: "End shift" }).click()
  await page.locator("#saved-message", { hasText: "shift ended" }).waitFor()
  let s2 = {}
  for (let t = 0; t < 100 && s2.shifts !== 1; t++) {
    s2 = await summary()
    if (s2.shifts !== 1) await new Promise((r) => setTimeout(r, 100))
  }
  check(s2.shifts === 1 && s2.active_volunteers >= 1, `the shift is counted (${JSON.stringify({ shifts: s2.shifts, active: s2.active_volunteers })})`)
  report.shift = { shifts: s2.shifts, active_volunteers: s2.active_volunteers }

  check(errors.length === 0, `page errors: ${errors.join("; ")}`)
  report.ok = true
} catch (e) {
  // Where it stopped and what the tablet showed then.
  const shown = await page?.evaluate(() => document.body.innerText).catch(() => "(page closed)")
  console.error(`${e.stack}\n--- the page showed:\n${shown}`)
  throw e
} finally {
  await browser.close()
}
console.log(JSON.stringify(report))
