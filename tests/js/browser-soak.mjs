// A browser soak of the tablet app: random taps through the real screens, seeded and
// reproducible (SEED), in headless Debian Chromium at 768 px. Referrals are logged with random
// answers, corrected and voided; shifts start and end; the network goes and comes back; the
// page is reloaded, or closed and opened again; the clock is moved past midnight. The script
// keeps its own ledger of what it saved and checks, throughout:
// - the sync status never says "synced" unless the tablet is online, and whenever it says
//   everything is synced, the relay's statistics equal the ledger exactly (per day, per kind of
//   help, per person helped, voided);
// - an entry saved offline is shown as waiting;
// and at the end, once online, that the relay stores exactly what the app saved.
//
// Then the relay refuses the tablet's changes (the Rust side makes its database fail the write,
// as a full disk would; the script asks for that on stdout and waits for "go" on stdin): the
// tablet says it is not syncing and what to do, never "synced", and once the relay accepts
// again everything arrives.
//
// Environment: SIGNPOST_URL, TOKEN, SITE_NAME, SCHEME, ADMIN_TOKEN, SEED, STEPS.
import { createInterface } from "node:readline"
import { check, env, fitsWidth, launch, onShift, otherAgency } from "./browser.mjs"

const [url, token, siteName, scheme, adminToken] = [env("SIGNPOST_URL"), env("TOKEN"), env("SITE_NAME"), env("SCHEME"), env("ADMIN_TOKEN")]
const seed = Number(process.env.SEED || 1)
const steps = Number(process.env.STEPS || 40)

// mulberry32: a small seeded generator, so a seed replays the same taps.
let state = seed >>> 0
function random() {
  state = (state + 0x6d2b79f5) >>> 0
  let t = state
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const pick = (xs) => xs[Math.floor(random() * xs.length)]
// A referral of the day's log that is not void: [name, entry], or undefined.
function pickOpen(day) {
  const open = [...ledger.entries()].filter(([, r]) => r.day === day && !r.voided)
  return open.length === 0 ? undefined : pick(open)
}

const HELPED = ["defendant", "defendant-family-friend", "victim", "witness", "prisoner", "prisoner-family", "other-court-user"]
const HELP = ["information", "signposted", "referred", "accompanied"]
const CATEGORIES = ["Housing or accommodation", "Debt, benefits and finance", "Employment, training and education"]
// The relay takes new desk days up to 400 days back and 2 ahead of its clock: the run starts
// three weeks back (the browser's clock is set there) and moves on only at its midnights.
const FIRST_DAY = new Date(Date.now() - 21 * 86400000).toISOString().slice(0, 10)
const LAST_DAY = new Date(Date.now() + 86400000).toISOString().slice(0, 10)

// The ledger: every referral the app saved, by its unique agency name.
const ledger = new Map()
let serial = 0
const log = []
const stdin = createInterface({ input: process.stdin })
const lines = stdin[Symbol.asyncIterator]()
async function ask(what) {
  console.log(what)
  const { value } = await lines.next()
  check(value === "go", `the test answered ${value} to ${what}`)
}

function expected() {
  const e = { referrals: 0, voided: 0, by_day: {}, by_kind_of_help: {}, by_who_helped: {} }
  for (const r of ledger.values()) {
    if (r.voided) {
      e.voided++
      continue
    }
    e.referrals++
    for (const [k, v] of [["by_day", r.day], ["by_kind_of_help", r.help], ["by_who_helped", r.helped]]) e[k][v] = (e[k][v] || 0) + 1
  }
  return e
}

async function relayFigures() {
  const res = await fetch(`${url}/api/v1/stats/summary?scheme=${scheme}&from=${FIRST_DAY}&to=${LAST_DAY}`, { headers: { authorization: `Bearer ${adminToken}` } })
  const s = await res.json()
  const counts = (xs) => Object.fromEntries(xs.map((c) => [c.key, c.count]))
  return { referrals: s.referrals, voided: s.voided, by_day: counts(s.by_day), by_kind_of_help: counts(s.by_kind_of_help), by_who_helped: counts(s.by_who_helped) }
}

// Figures compared without key order and without zero counts in the breakdowns.
const same = (a, b) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b))
function canonical(f) {
  const out = { referrals: f.referrals, voided: f.voided }
  for (const k of ["by_day", "by_kind_of_help", "by_who_helped"]) {
    out[k] = Object.fromEntries(Object.keys(f[k]).sort().filter((x) => f[k][x] !== 0).map((x) => [x, f[k][x]]))
  }
  return out
}

const browser = await launch()
const report = { seed, steps: 0, actions: {}, syncedChecks: 0, refused: {} }
let page
try {
  const context = await browser.newContext({ viewport: { width: 768, height: 1024 }, timezoneId: "Europe/London" })
  await context.clock.install({ time: new Date(`${FIRST_DAY}T23:20:00Z`) })
  let offline = false
  // Saved while offline and not yet seen acknowledged.
  let savedOffline = false
  const errors = []
  const open = async () => {
    page = await context.newPage()
    page.on("pageerror", (e) => errors.push(String(e)))
    await page.goto(url)
    await page.getByRole("heading", { name: siteName }).waitFor({ timeout: 20000 })
  }
  page = await context.newPage()
  page.on("pageerror", (e) => errors.push(String(e)))
  await page.goto(url)
  await page.getByLabel("Enrolment code").fill(token)
  await page.getByRole("button", { name: "Continue" }).click()
  await page.locator("#sync-state", { hasText: "Online" }).waitFor({ timeout: 15000 })
  await page.evaluate(() => navigator.serviceWorker.ready)
  await page.getByLabel("Ann E.").check()

  const today = () => page.evaluate(() => {
    const d = new Date()
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`
  })

  // The invariants that hold at any moment.
  async function observe(what) {
    // Both read at once: the status may change between two separate reads.
    const [tag, detail] = await page.evaluate(() => [document.getElementById("sync-state").innerText, document.getElementById("sync-detail").innerText])
    if (detail.includes("synced") && !detail.includes("waiting")) {
      check(tag === "Online", `after ${what} the status says synced while "${tag}"`)
      const got = await relayFigures()
      check(same(got, expected()), `after ${what} the tablet says everything is synced, but the relay has ${JSON.stringify(got)}, the app saved ${JSON.stringify(expected())}`)
      report.syncedChecks++
      savedOffline = false
    }
    if (savedOffline && offline) check(detail.includes("waiting to sync"), `after ${what} an entry saved offline is not shown as waiting: "${detail}"`)
  }

  async function fillReferral(r, name) {
    await page.locator(`input[name="helped"][value="${r.helped}"]`).check()
    await page.getByLabel(pick(CATEGORIES)).check()
    await otherAgency(page, name)
    await page.locator(`input[name="help"][value="${r.help}"]`).check()
    await page.locator(`input[name="follow-up"][value="${random() < 0.5 ? "yes" : "no"}"]`).check()
    if (random() < 0.4) await page.locator("#notes").fill(pick(["Llŷr's café", "naïve – ünïcode 😀", "Next hearing Tuesday"]))
  }
  // A referral's row, by its agency's name (unique per referral), in the agency cell.
  const rowOf = (name) => page.locator("tr.referral-row").filter({ has: page.getByRole("cell", { name, exact: true }) })

  for (let step = 0; step < steps; step++) {
    const day = await today()
    const x = random()
    let what
    if (x < 0.35) {
      what = "log"
      const name = `Soak${++serial}`
      const r = { helped: pick(HELPED), help: pick(HELP), day, voided: false }
      // Nobody on the desk: the desk asks for someone first.
      if (await page.locator("#start-shift-first").isVisible()) await onShift(page, "Ann E.")
      await fillReferral(r, name)
      await page.getByRole("button", { name: "Save referral" }).click()
      await page.locator("#saved-message").waitFor()
      await rowOf(name).waitFor()
      ledger.set(name, r)
      if (offline) savedOffline = true
    } else if (x < 0.47) {
      // Correct a referral of today's log.
      const picked = pickOpen(day)
      if (!picked) continue
      const [name, r] = picked
      what = "correct"
      await rowOf(name).getByRole("button", { name: /Change/ }).click()
      await page.getByRole("heading", { name: /Correct the referral/ }).waitFor()
      r.helped = pick(HELPED)
      r.help = pick(HELP)
      await page.locator(`input[name="helped"][value="${r.helped}"]`).check()
      await page.locator(`input[name="help"][value="${r.help}"]`).check()
      await page.getByRole("button", { name: "Save correction" }).click()
      await page.locator("#saved-message", { hasText: "corrected" }).waitFor()
      if (offline) savedOffline = true
    } else if (x < 0.55) {
      const picked = pickOpen(day)
      if (!picked) continue
      const [name, r] = picked
      what = "void"
      await rowOf(name).getByRole("button", { name: /Change/ }).click()
      await page.getByLabel("Why is it void?").fill("Logged twice")
      await page.getByRole("button", { name: "Void referral" }).click()
      await rowOf(name).filter({ hasText: "Void" }).waitFor()
      r.voided = true
      if (offline) savedOffline = true
    } else if (x < 0.60) {
      what = "shift"
      if (await page.getByRole("button", { name: "End shift" }).isVisible()) {
        await page.getByRole("button", { name: "End shift" }).click()
        await page.locator("#saved-message", { hasText: "shift ended" }).waitFor()
      } else {
        await page.getByLabel("Ann E.").check()
        await page.getByRole("button", { name: "Start shift" }).click()
        await page.locator("#on-desk").waitFor()
      }
    } else if (x < 0.74) {
      offline = !offline
      what = offline ? "offline" : "online"
      // Back online, what waited may sync at any moment.
      if (!offline) savedOffline = false
      await context.setOffline(offline)
      // The app notices the network going, and coming back.
      await page.locator("#sync-state", { hasText: offline ? "Offline" : "Online" }).waitFor({ timeout: 40000 })
    } else if (x < 0.83) {
      what = "reload"
      await page.reload()
      await page.getByRole("heading", { name: siteName }).waitFor({ timeout: 20000 })
    } else if (x < 0.88) {
      what = "close and reopen"
      await page.close()
      await open()
    } else if (x < 0.91) {
      // Past midnight: the desk moves to the new day by itself within its 20-second check.
      what = "midnight"
      const before = day
      const toMidnight = await page.evaluate(() => {
        const d = new Date()
        return new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1, 0, 1) - d
      })
      await context.clock.fastForward(toMidnight)
      await page.waitForFunction((d) => {
        const n = new Date()
        return `${n.getFullYear()}-${String(n.getMonth() + 1).padStart(2, "0")}-${String(n.getDate()).padStart(2, "0")}` !== d
      }, before)
      await context.clock.fastForward("00:00:25")
      const after = await today()
      // The log shows only the new day's entries.
      const n = [...ledger.values()].filter((r) => r.day === after).length
      await page.waitForFunction((n) => document.querySelectorAll("tr.referral-row").length === n, n, { timeout: 10000 })
    } else {
      what = "wait"
      await page.waitForTimeout(300 + Math.floor(random() * 1500))
    }
    report.actions[what] = (report.actions[what] || 0) + 1
    log.push(what)
    report.steps++
    await observe(`step ${step} (${what})`)
  }
  await fitsWidth(page, "the desk after the soak")

  // Back online for good: everything arrives, exactly as saved.
  offline = false
  await context.setOffline(false)
  await page.locator("#sync-detail", { hasText: "Everything is saved on this tablet and synced" }).waitFor({ timeout: 60000 })
  await observe("the final sync")
  report.saved = expected()

  // The relay refuses the tablet's changes.
  await ask("REFUSE")
  const name = `Soak${++serial}`
  const r = { helped: "victim", help: "information", day: await today(), voided: false }
  if (await page.locator("#start-shift-first").isVisible()) await onShift(page, "Ann E.")
  await fillReferral(r, name)
  await page.getByRole("button", { name: "Save referral" }).click()
  await rowOf(name).waitFor()
  ledger.set(name, r)
  await page.locator("#sync-state", { hasText: "Not syncing" }).waitFor({ timeout: 30000 })
  await page.locator("#refused-warning").waitFor()
  const warningText = await page.locator("#refused-warning").innerText()
  check(warningText.includes("tell your coordinator"), `the warning says what to do: ${warningText}`)
  const detail = await page.locator("#sync-detail").innerText()
  check(detail.includes("1 entry waiting to sync") && !detail.includes("and synced"), `while refused: "${detail}"`)
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true })
  report.refused = { tag: await page.locator("#sync-state").innerText(), detail }
  await ask("ACCEPT")
  await page.locator("#sync-detail", { hasText: "Everything is saved on this tablet and synced" }).waitFor({ timeout: 60000 })
  check(!(await page.locator("#refused-warning").isVisible()), "the warning goes once the relay accepts again")
  await observe("the relay accepting again")
  report.final = await relayFigures()
  check(errors.length === 0, `page errors: ${errors.join("; ")}`)
  report.ok = true
} catch (e) {
  const shown = await page?.evaluate(() => document.body.innerText).catch(() => "(page closed)")
  console.error(`${e.stack}\n--- seed ${seed}; steps: ${log.join(", ")}\n--- the page showed:\n${shown}`)
  process.exitCode = 1
} finally {
  await browser.close()
  stdin.close()
}
console.log(JSON.stringify(report))
