// Browser check of the desk's follow-ups, in headless Debian Chromium at 768 px: a tablet set up
// today lists a follow-up logged 40 days ago on another tablet of the desk (a day it never held,
// fetched from the relay), and one it logs itself; a volunteer closes the old one with an
// outcome (the form asks for one first); the list and the relay's figures follow. axe-core on
// every screen.
//
// Environment: SIGNPOST_URL, TOKEN, SITE_NAME.
import { axe as runAxe, check, env, fitsWidth, launch, onShift, otherAgency, tabletPage } from "./browser.mjs"

const [url, token, siteName] = ["SIGNPOST_URL", "TOKEN", "SITE_NAME"].map(env)
const browser = await launch()
const report = { screens: {} }
try {
  const { page, errors } = await tabletPage(browser)
  const axe = (name) => runAxe(page, name, report)
  await page.goto(url)
  await page.getByLabel("Enrolment code").fill(token)
  await page.getByRole("button", { name: "Continue" }).click()
  await page.getByRole("heading", { name: siteName }).waitFor({ timeout: 20000 })
  // The old follow-up arrives from the relay.
  await page.locator("#follow-ups-heading", { hasText: "Follow-ups (1 open)" }).waitFor({ timeout: 20000 })
  check((await page.locator("#follow-up-list").innerText()).includes("Call back about the tenancy"), "the old follow-up's notes are shown")
  await axe("follow-ups")
  // One of its own, with a follow-up needed.
  await onShift(page, "Ann E.")
  await page.getByLabel("Witness", { exact: true }).check()
  await page.getByLabel("Housing or accommodation").check()
  await otherAgency(page, "Food bank")
  await page.getByLabel("Information given").check()
  await page.locator("#follow-up-yes").check()
  await page.getByRole("button", { name: "Save referral" }).click()
  await page.locator("#saved-message").waitFor()
  await page.locator("#follow-ups-heading", { hasText: "Follow-ups (2 open)" }).waitFor()
  // Closing asks how it ended.
  const first = page.locator("li.signpost-follow-up").first()
  check((await first.innerText()).includes("Call back about the tenancy"), "oldest first")
  await first.getByRole("button", { name: /^Close/ }).click()
  await page.getByRole("button", { name: "Close follow-up" }).click()
  await page.getByText("Select how the follow-up ended").first().waitFor()
  await axe("close a follow-up with an error")
  await page.getByLabel("Contacted").check()
  await page.getByRole("button", { name: "Close follow-up" }).click()
  await page.locator("#saved-message", { hasText: "Follow-up closed: contacted" }).waitFor()
  await page.locator("#follow-ups-heading", { hasText: "Follow-ups (1 open)" }).waitFor()
  await fitsWidth(page, "the desk with follow-ups")
  await page.locator("#sync-detail", { hasText: "synced" }).waitFor({ timeout: 20000 })
  check(errors.length === 0, `page errors: ${errors.join("; ")}`)
  report.ok = true
} catch (e) {
  console.error(e.stack)
  throw e
} finally {
  await browser.close()
}
console.log(JSON.stringify(report))
