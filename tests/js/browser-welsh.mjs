// Browser check of the tablet app in Welsh, in headless Debian Chromium at 768 px: every screen
// is read in English and again in Welsh, and a piece of text that is the same in both (other than
// names, times and numbers, which are not translated) fails the test: a string without its
// translation cannot slip through. The choice is made with the GOV.UK language switch (or
// `?lang=cy`), remembered across reloads, and marked on `<html lang>`. axe-core on each Welsh
// screen.
//
// Then the web pages (`welsh-web.mjs`), read the same way.
//
// Environment: SIGNPOST_URL, TOKEN, SITE_NAME, SCHEME, ADMIN_EMAIL, ADMIN_CODE, COORD_EMAIL,
// COORD_CODE.
import { axe as runAxe, check, env, fitsWidth, launch, onShift, otherAgency, tabletPage, texts, untranslated } from "./browser.mjs"
import { webPagesInWelsh } from "./welsh-web.mjs"

const [url, token, siteName] = ["SIGNPOST_URL", "TOKEN", "SITE_NAME"].map(env)
const browser = await launch()
const report = { screens: {}, compared: {} }
try {
  const { page, errors } = await tabletPage(browser)
  // What is not translated: names of people, places and agencies, times and numbers.
  // ("Sikh" and "Roma" are the same word in both languages.)
  const names = new Set([siteName, "Test Scheme", "Ann E.", "Signpost", "Food bank", "PIN", "spd_", "ABCD-EFGH", "Sikh", "Roma"])
  async function compare(name, show) {
    await page.goto(`${url}/?lang=en`)
    await show()
    const english = await texts(page)
    await page.goto(`${url}/?lang=cy`)
    await show()
    check((await page.getAttribute("html", "lang")) === "cy", `${name}: <html lang="cy">`)
    const welsh = await texts(page)
    const same = untranslated(english, welsh, names)
    check(same.length === 0, `${name}: not translated into Welsh: ${JSON.stringify(same)}`)
    report.compared[name] = welsh.length
    await runAxe(page, `${name} (Welsh)`, report)
    await fitsWidth(page, `${name} (Welsh)`)
  }

  // Set-up, then with an error.
  await compare("set-up", async () => page.getByRole("heading", { level: 1 }).waitFor({ timeout: 20000 }))
  await compare("set-up with an error", async () => {
    await page.locator("#enrolment-code").waitFor({ timeout: 20000 })
    await page.locator("form button[type=submit]").click()
    await page.locator("#error-summary").waitFor()
  })
  // Enrolled in Welsh; the choice stays after a reload without ?lang.
  await page.locator("#enrolment-code").fill(token)
  await page.locator("form button[type=submit]").click()
  await page.locator("#on-desk").waitFor({ timeout: 20000 })
  await page.goto(url)
  await page.locator("#on-desk").waitFor({ timeout: 20000 })
  check((await page.getAttribute("html", "lang")) === "cy", "Welsh is remembered")
  check((await page.locator("#sync-state").innerText()).length > 0, "the desk shows")
  // Agency names come from the directory: names, not translated.
  for (const n of await page.locator('input[name="agency"] + label').allInnerTexts()) names.add(n.trim())
  await compare("desk, nobody on it", async () => page.locator("#on-desk").waitFor({ timeout: 20000 }))
  await page.goto(`${url}/?lang=en`)
  await onShift(page, "Ann E.")
  await page.getByLabel("Witness", { exact: true }).check()
  await page.getByLabel("Housing or accommodation").check()
  await otherAgency(page, "Food bank")
  await page.getByLabel("Information given").check()
  await page.locator("#follow-up-yes").check()
  await page.getByRole("button", { name: "Save referral" }).click()
  await page.locator("#saved-message").waitFor()
  for (const n of await page.locator('input[name="agency"] + label').allInnerTexts()) names.add(n.trim())
  await compare("desk on shift with an entry and a follow-up", async () => {
    await page.locator("tr.referral-row").first().waitFor({ timeout: 20000 })
    await page.locator("li.signpost-follow-up").first().waitFor()
  })
  await compare("log form with errors", async () => {
    await page.locator("tr.referral-row").first().waitFor({ timeout: 20000 })
    await page.locator("#log-heading ~ form button[type=submit], form:has(#helped) button[type=submit]").first().click()
    await page.locator("#error-summary").waitFor()
  })
  await compare("closing a follow-up", async () => {
    await page.locator("li.signpost-follow-up button").first().click()
    await page.locator("li.signpost-follow-up form button[type=submit]").click()
    await page.locator("li.signpost-follow-up .govuk-error-message").waitFor()
  })
  await compare("correcting a referral", async () => {
    await page.locator("tr.referral-row button").first().click()
    await page.locator("#void-reason").waitFor()
  })
  // The equality-monitoring form, a page of its own (kept by the tablet for offline use).
  await compare("equality form", async () => {
    await page.locator("#equality-link").click()
    await page.locator("#equality-form button[type=submit]:enabled").waitFor({ timeout: 20000 })
    await page.locator("#equality-form button[type=submit]").click()
    await page.locator("#consent-error").waitFor()
  })
  await page.goto(`${url}/?lang=cy`)
  await page.locator("#on-desk").waitFor({ timeout: 20000 })
  // The switch back to English.
  await page.getByRole("link", { name: "English" }).click()
  await page.waitForFunction(() => document.documentElement.lang === "en-GB")
  await page.getByRole("button", { name: "Save referral" }).waitFor()
  check(errors.length === 0, `page errors: ${errors.join("; ")}`)
  // Then the web pages, in the same browser.
  const account = (who) => ({ email: env(`${who}_EMAIL`), code: env(`${who}_CODE`) })
  await webPagesInWelsh(browser, { url, scheme: env("SCHEME"), names, admin: account("ADMIN"), coord: account("COORD") }, report)
  report.ok = true
} catch (e) {
  console.error(e.stack)
  throw e
} finally {
  await browser.close()
}
console.log(JSON.stringify(report))
