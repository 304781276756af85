// A tablet whose clock is wrong, in headless Debian Chromium at 768 px: its clock reset to
// 1 January 2000 (a flat battery), a volunteer logs a referral. The relay sets the day aside
// rather than refusing the tablet: the desk says so in words a volunteer can act on, the
// connection stays up and "synced" is never claimed for what was not taken. Then the clock is put
// right and the day's referral syncs on the same tablet. The app's WebSocket carries no
// credential in its URL. axe-core on the screen with the notice; a screenshot of it.
//
// Environment: SIGNPOST_URL, TOKEN, SITE_NAME; SCREENSHOT (optional: where to save one).
import { axe as runAxe, check, counted, env, fitsWidth, launch, otherAgency } from "./browser.mjs"

// Ann E. starts a shift, once the roster has arrived (unless she is on the desk already).
async function startShift(page) {
  const onDesk = page.locator("#on-desk", { hasText: "Ann E. is on the desk" })
  const start = page.getByRole("button", { name: "Start shift" })
  await Promise.race([onDesk.waitFor({ timeout: 20000 }), start.waitFor({ timeout: 20000 })])
  if (await onDesk.isVisible()) return
  await page.getByLabel("Ann E.", { exact: true }).check()
  await start.click()
  await onDesk.waitFor()
}

const [url, token, siteName] = ["SIGNPOST_URL", "TOKEN", "SITE_NAME"].map(env)
const browser = await launch()
const report = { screens: {}, sockets: [] }
try {
  const context = await browser.newContext({ viewport: { width: 768, height: 1024 } })
  const page = await context.newPage()
  const errors = []
  page.on("pageerror", (e) => errors.push(String(e)))
  page.on("websocket", (ws) => report.sockets.push(ws.url()))
  const axe = (name) => runAxe(page, name, report)
  // A clock at the start of the century, running.
  await context.clock.install({ time: new Date("2000-01-01T10:00:00Z") })
  await context.clock.resume()
  await page.goto(url)
  await page.getByLabel("Enrolment code").fill(token)
  await page.getByRole("button", { name: "Continue" }).click()
  await page.getByRole("heading", { name: siteName }).waitFor({ timeout: 20000 })
  await startShift(page)
  await page.getByLabel("Witness", { exact: true }).check()
  await page.getByLabel("Housing or accommodation").check()
  await otherAgency(page, "Food bank")
  await page.getByLabel("Information given").check()
  await page.locator("input[name=follow-up][value=no]").check()
  await page.getByRole("button", { name: "Save referral" }).click()
  await page.locator("#saved-message").waitFor()
  const notice = page.locator("#day-problems", { hasText: "set aside" })
  await notice.waitFor({ timeout: 20000 })
  const text = await notice.innerText()
  check(text.includes("01/01/2000"), `the notice names the day: ${text}`)
  check(text.includes("clock"), `the notice speaks of the clock: ${text}`)
  check((await page.locator("#sync-state").innerText()).includes("Online"), "the tablet stays connected")
  await axe("a day set aside")
  await fitsWidth(page, "the desk with a day set aside")
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true })
  const setAside = await counted("2000-01-01", "2000-01-01")
  check(setAside === 0, `a day set aside is not counted (${setAside})`)
  // The clock put right: today's referral syncs on the same tablet.
  await context.clock.setSystemTime(new Date())
  await page.reload()
  await page.getByRole("heading", { name: siteName }).waitFor({ timeout: 20000 })
  await startShift(page)
  await page.getByLabel("Victim", { exact: true }).check()
  await page.getByLabel("Housing or accommodation").check()
  await otherAgency(page, "Shelter")
  await page.getByLabel("Information given").check()
  await page.locator("input[name=follow-up][value=no]").check()
  await page.getByRole("button", { name: "Save referral" }).click()
  await page.locator("#saved-message").waitFor()
  const today = new Date().toISOString().slice(0, 10)
  for (let i = 0; i < 100 && (await counted(today, today)) < 1; i++) await page.waitForTimeout(200)
  check((await counted(today, today)) === 1, "today's referral is counted")
  check(report.sockets.length > 0, "the app opened its socket")
  for (const s of report.sockets) check(!/token|spd_/.test(s), `a credential in the socket's URL: ${s}`)
  check(errors.length === 0, `page errors: ${errors.join("; ")}`)
  report.ok = true
} catch (e) {
  console.error(e.stack)
  if (process.env.FAILURE_SHOT) {
    for (const c of browser.contexts()) for (const p of c.pages()) await p.screenshot({ path: process.env.FAILURE_SHOT, fullPage: true }).catch(() => {})
  }
  throw e
} finally {
  await browser.close()
}
console.log(JSON.stringify(report))
