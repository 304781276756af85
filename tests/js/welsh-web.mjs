// The web pages in Welsh, at 768 px: every page a coordinator, an administrator or anyone signed
// out meets, and the answers to refused forms, read in English and again in Welsh (chosen with
// `?lang=`, then remembered by a cookie). A piece of text the same in both, other than data
// (names, email addresses, codes, times and numbers), fails; so does a page without
// `<html lang="cy">` or the language switch; axe-core runs on each Welsh page.
import { axe as runAxe, check, fitsWidth, texts, untranslated, watch } from "./browser.mjs"

const password = "correct horse battery staple"

// `o`: url, scheme, names (a Set of names already known), admin and coord ({ email, code }).
export async function webPagesInWelsh(browser, o, report) {
  const { url, scheme } = o
  // Abbreviations and names that are the same in both languages.
  const names = new Set([...o.names, "Signpost", "CSV", "JSON", "NOMS", "PIN", "WCAG", "UTC", "GOV.UK", "NVDA, JAWS", "VoiceOver", "EHRC", "EASS", "ICO", "[c]", "Test Scheme"])
  const errors = []
  report.web = {}
  async function newPage() {
    // bypassCSP: the pages forbid scripts; axe-core is injected as one.
    const p = await (await browser.newContext({ viewport: { width: 768, height: 1024 } , bypassCSP: true })).newPage()
    watch(p, errors)
    return p
  }
  const at = (p, path) => (lang) => p.goto(`${url}${path}${path.includes("?") ? "&" : "?"}lang=${lang}`)
  // In `lang`, then `then` on that page (a form sent, for example).
  const after = (p, path, then) => async (lang) => {
    await at(p, path)(lang)
    await then()
  }
  async function compare(p, name, visit) {
    await visit("en")
    check((await p.getAttribute("html", "lang")) === "en-GB", `${name}: <html lang="en-GB">`)
    const english = await texts(p)
    await visit("cy")
    check((await p.getAttribute("html", "lang")) === "cy", `${name}: <html lang="cy">`)
    check((await p.locator(".govuk-language-navigation a[hreflang=en]").count()) === 1, `${name}: the switch back to English`)
    const welsh = await texts(p)
    const same = untranslated(english, welsh, names)
    check(same.length === 0, `${name}: not translated into Welsh: ${JSON.stringify(same)}`)
    report.web[name] = welsh.length
    await runAxe(p, `${name} (Welsh web page)`, report)
    await fitsWidth(p, `${name} (Welsh web page)`)
  }
  async function signIn(p, who) {
    await p.goto(`${url}/set-password?code=${encodeURIComponent(who.code)}&lang=en`)
    await p.locator("#password").fill(password)
    await p.locator("#confirm").fill(password)
    await p.locator("form button[type=submit]").click()
    await p.locator("#email").waitFor()
    await p.locator("#email").fill(who.email)
    await p.locator("#password").fill(password)
    await p.locator("form[action='/sign-in'] button[type=submit]").click()
    await p.waitForURL((u) => !u.pathname.startsWith("/sign-in"))
  }
  const href = async (p, selector) => p.locator(selector).first().getAttribute("href")
  const learn = async (p, selector) => {
    for (const t of await p.locator(selector).allInnerTexts()) if (t.trim()) names.add(t.trim())
  }

  // Signed out.
  const out = await newPage()
  await compare(out, "sign in", at(out, "/sign-in"))
  await compare(out, "sign in refused", after(out, "/sign-in", async () => {
    await out.locator("#email").fill(o.admin.email)
    await out.locator("#password").fill("not the password at all")
    await out.locator("form[action='/sign-in'] button[type=submit]").click()
    await out.locator(".govuk-error-summary").waitFor()
  }))
  await compare(out, "set password", at(out, `/set-password?code=${encodeURIComponent(o.coord.code)}`))
  await compare(out, "set password refused", after(out, `/set-password?code=${encodeURIComponent(o.coord.code)}`, async () => {
    await out.locator("#password").fill("short")
    await out.locator("form button[type=submit]").click()
    await out.locator(".govuk-error-summary").waitFor()
  }))
  await compare(out, "accessibility statement", at(out, "/accessibility"))
  await compare(out, "privacy notice", at(out, "/privacy"))

  // The administrator.
  const admin = await newPage()
  await signIn(admin, o.admin)
  await admin.goto(`${url}/manage?lang=en`)
  const reset = await href(admin, "a[href$='/reset-password']")
  const deactivate = await href(admin, "a[href$='/active']")
  await compare(admin, "administration", at(admin, "/manage"))
  await compare(admin, "a scheme refused", after(admin, "/manage", async () => {
    await admin.locator("form[action='/manage/schemes'] button[type=submit]").click()
    await admin.locator(".govuk-error-summary").waitFor()
  }))
  await compare(admin, "reset a password", at(admin, reset))
  await compare(admin, "deactivate an account", at(admin, deactivate))
  await compare(admin, "national statistics", at(admin, "/manage/national"))

  // The coordinator.
  const coord = await newPage()
  await signIn(coord, o.coord)
  const home = `/manage/schemes/${scheme}`
  await coord.goto(`${url}${home}?lang=en`)
  await learn(coord, "#sites td:first-child a .govuk-visually-hidden, #tablets tbody tr > :first-child, #roster tbody tr > :first-child, h1")
  const site = await href(coord, "a[href*='/sites/']")
  const revoke = await href(coord, "a[href$='/revoke']")
  const takeOff = await href(coord, "a[href*='/volunteers/'][href$='/active']")
  await compare(coord, "the scheme", at(coord, home))
  await compare(coord, "a volunteer refused", after(coord, home, async () => {
    await coord.locator("#volunteer-name").fill("Ann E.")
    await coord.locator("form:has(#volunteer-name) button[type=submit]").click()
    await coord.locator(".govuk-error-summary").waitFor()
  }))
  await compare(coord, "the scheme's details", at(coord, `${home}/details`))
  await compare(coord, "the scheme's details refused", after(coord, `${home}/details`, async () => {
    await coord.locator("#scheme-name").fill("")
    await coord.locator("form:has(#scheme-name) button[type=submit]").click()
    await coord.locator(".govuk-error-summary").waitFor()
  }))
  await coord.goto(`${url}${home}/agencies?lang=en`)
  await learn(coord, "main table tbody th, main table tbody td:first-child")
  const agency = await href(coord, "main table a[href*='/agencies/']")
  await compare(coord, "agency directory", at(coord, `${home}/agencies`))
  await compare(coord, "new agency refused", after(coord, `${home}/agencies/new`, async () => {
    await coord.locator("main form button[type=submit]").click()
    await coord.locator(".govuk-error-summary").waitFor()
  }))
  await compare(coord, "an agency", at(coord, agency))
  await compare(coord, "retire an agency", at(coord, `${agency}/retire`))
  await compare(coord, "a site", at(coord, site))
  await compare(coord, "a site refused", after(coord, site, async () => {
    await coord.locator("#site-rename").fill("")
    await coord.locator("form:has(#site-rename) button[type=submit]").click()
    await coord.locator(".govuk-error-summary").waitFor()
  }))
  await compare(coord, "revoke a tablet", at(coord, revoke))
  await compare(coord, "take a volunteer off", at(coord, takeOff))
  await compare(coord, "an enrolment code", after(coord, home, async () => {
    await coord.locator("form[action$='/enrolment-code'] button[type=submit]").first().click()
    await coord.locator("main h1").waitFor()
  }))
  await compare(coord, "impact", at(coord, `${home}/dashboard`))
  await compare(coord, "impact refused", at(coord, `${home}/dashboard?from-day=31&from-month=2&from-year=2026&to-day=1&to-month=3&to-year=2026`))
  const siteId = site.split("/").pop()
  const today = new Date().toISOString().slice(0, 10)
  const found = `${home}/referrals?site=${siteId}&day=${today}`
  await coord.goto(`${url}${found}&lang=en`)
  const referral = await href(coord, "main table a[href*='/referrals/']")
  await compare(coord, "referrals found", at(coord, found))
  await compare(coord, "a referral", at(coord, referral))
  await compare(coord, "erase a referral", at(coord, `${referral}/erase`))
  await compare(coord, "page not found", at(coord, `${home}/agencies/no-such-agency`))
  // The administrator's audit log, now that there is something in it.
  await compare(admin, "audit log", at(admin, "/manage/audit"))
  check(errors.length === 0, `page errors: ${errors.join("; ")}`)
}
