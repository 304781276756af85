// Browser check of managing a scheme, in headless Debian Chromium at 768 px wide: an
// administrator and a coordinator go through every management form as a newcomer would, with
// mistakes first. Each refused form comes back in the GOV.UK pattern (error summary, the
// message beside the field, what was typed kept, "Error:" in the title); each action that works
// says so in a success banner; destructive actions take a confirmation step. axe-core (WCAG 2.x
// A/AA and best practices) runs on every screen and nothing reaches past the screen's edge.
//
// Environment: SIGNPOST_URL, SCHEME, SITE_NAME, ADMIN_EMAIL, ADMIN_CODE, COORD_EMAIL,
// COORD_CODE.
import { axe as runAxe, check, env, fitsWidth, launch, tabletPage, watch } from "./browser.mjs"

const [url, scheme, siteName, adminEmail, adminCode, coordEmail, coordCode] = [
  "SIGNPOST_URL", "SCHEME", "SITE_NAME", "ADMIN_EMAIL", "ADMIN_CODE", "COORD_EMAIL", "COORD_CODE",
].map(env)
const password = "correct horse battery staple"
const browser = await launch()
const report = { screens: {} }
const pages = []
try {
  const viewport = { width: 768, height: 1024 }
  const errors = []
  async function newPage() {
    // bypassCSP: the pages forbid scripts; axe-core is injected as one.
    const p = await (await browser.newContext({ viewport, bypassCSP: true })).newPage()
    watch(p, errors)
    pages.push(p)
    return p
  }
  async function look(p, name) {
    await runAxe(p, name, report)
    await fitsWidth(p, name)
  }
  async function refused(p, summary, field, kept) {
    await p.locator(".govuk-error-summary", { hasText: summary }).waitFor()
    check((await p.title()).startsWith("Error: "), `the title says there is an error: ${await p.title()}`)
    check((await p.locator(`#${field}-error`).innerText()).includes(summary), `the message is beside #${field}`)
    if (kept !== undefined) check((await p.locator(`#${field}`).inputValue()) === kept, `#${field} keeps "${kept}"`)
  }
  const banner = (p, text) => p.locator("#success-message", { hasText: text }).waitFor()
  async function signIn(p, email, code) {
    await p.goto(`${url}/set-password?code=${encodeURIComponent(code)}`)
    await p.getByLabel("Password", { exact: true }).fill(password)
    await p.getByLabel("Confirm password").fill(password)
    await p.getByRole("button", { name: "Save password" }).click()
    await p.getByText("Your password is set").waitFor()
    await p.goto(`${url}/sign-in`)
    await p.getByLabel("Email address").fill(email)
    await p.getByLabel("Password").fill(password)
    await p.getByRole("button", { name: "Sign in" }).click()
  }

  // The administrator.
  const admin = await newPage()
  await signIn(admin, adminEmail, adminCode)
  await admin.getByRole("heading", { name: "Signpost administration" }).waitFor()
  await look(admin, "administration")
  // A new scheme: neither the region nor the kind is chosen for them.
  check((await admin.locator("#scheme-region").inputValue()) === "", "no region is preselected")
  await admin.getByLabel("Scheme's name").fill("Riverside Advice Desk")
  await admin.getByRole("button", { name: "Create scheme" }).click()
  await refused(admin, "Select the scheme's region", "scheme-region")
  check((await admin.getByLabel("Scheme's name").inputValue()) === "Riverside Advice Desk", "the name is kept")
  await look(admin, "administration with an error")
  await admin.getByLabel("Region").selectOption({ label: "Wales" })
  await admin.getByLabel("Kind of scheme").selectOption({ label: "Community advice desk at a magistrates' court" })
  await admin.getByRole("button", { name: "Create scheme" }).click()
  await banner(admin, "The scheme is created")
  await admin.getByRole("heading", { name: "Riverside Advice Desk" }).waitFor()
  check((await admin.locator("#scheme-details").innerText()).includes("Wales"), "the region is shown")
  // Breadcrumbs and the header lead back.
  await admin.getByRole("navigation", { name: "Breadcrumb" }).getByRole("link", { name: "Schemes and accounts" }).click()
  await admin.getByRole("heading", { name: "Signpost administration" }).waitFor()
  // An invitation in plain words, not command-line ones.
  await admin.locator("#invite-email").fill("new.coordinator@example.org")
  await admin.getByLabel("Role").selectOption("coordinator")
  await admin.getByRole("button", { name: "Invite" }).click()
  await refused(admin, "Select the scheme this coordinator manages", "invite-scheme")
  check((await admin.locator("#invite-email").inputValue()) === "new.coordinator@example.org", "the email is kept")
  check(!(await admin.content()).includes("--scheme"), "no command-line words")
  // Deactivating takes a confirmation step, then the coordinator cannot sign in.
  await admin.getByRole("link", { name: `Deactivate ${coordEmail}` }).click()
  await admin.getByRole("heading", { name: `Deactivate ${coordEmail}?` }).waitFor()
  await look(admin, "deactivate an account")
  await admin.getByRole("button", { name: "Deactivate account" }).click()
  await banner(admin, `${coordEmail} is deactivated`)
  await admin.locator("#accounts tr", { hasText: coordEmail }).getByText("Deactivated").waitFor()
  await look(admin, "administration with a deactivated account")
  const coord = await newPage()
  await coord.goto(`${url}/set-password?code=${encodeURIComponent(coordCode)}`)
  await coord.getByText("expired or has already been used").first().waitFor()
  await admin.getByRole("button", { name: `Reactivate ${coordEmail}` }).click()
  await banner(admin, `${coordEmail} is reactivated`)
  // The reset step.
  await admin.getByRole("link", { name: `Reset password for ${coordEmail}` }).click()
  await admin.getByRole("heading", { name: `Reset the password for ${coordEmail}?` }).waitFor()
  await look(admin, "reset a password")
  await admin.getByRole("button", { name: "Reset password" }).click()
  const link = (await admin.locator("#set-password-link").innerText()).trim()
  report.deactivated = true
  // The audit log names what it mentions.
  await admin.getByRole("navigation", { name: "Menu" }).getByRole("link", { name: "Audit log" }).click()
  await admin.locator("#audit", { hasText: "account deactivated" }).waitFor()
  check((await admin.locator("#audit").innerText()).includes("Riverside Advice Desk"), "the audit log names schemes")
  await look(admin, "audit log")

  // The coordinator, with the new link.
  await signIn(coord, coordEmail, new URL(link).searchParams.get("code"))
  await coord.getByRole("heading", { name: "Sites and tablets" }).waitFor()
  await look(coord, "scheme")
  // The scheme's details.
  await coord.getByRole("link", { name: "Change the scheme's name, region and kind" }).click()
  await look(coord, "change the scheme's details")
  await coord.getByLabel("Scheme's name").fill("")
  await coord.getByRole("button", { name: "Save" }).click()
  await refused(coord, "Enter the scheme's name", "scheme-name", "")
  await look(coord, "change the scheme's details with an error")
  await coord.getByLabel("Scheme's name").fill("Test Scheme North")
  await coord.getByLabel("Region").selectOption({ label: "North East" })
  await coord.getByLabel("Kind of scheme").selectOption({ label: "Court help desk" })
  await coord.getByRole("button", { name: "Save" }).click()
  await banner(coord, "The scheme's details are saved")
  await coord.getByRole("heading", { name: "Test Scheme North" }).waitFor()
  // Sites: a second one, a name already taken, then renamed and closed.
  await coord.getByLabel("New site's name").fill(siteName.toLowerCase())
  await coord.getByRole("button", { name: "Add site" }).click()
  await refused(coord, `already has a site called`, "site-name", siteName.toLowerCase())
  await look(coord, "scheme with an error")
  await coord.getByLabel("New site's name").fill("Court C")
  await coord.getByRole("button", { name: "Add site" }).click()
  await banner(coord, "Court C is added")
  await coord.getByRole("link", { name: "Rename or close Court C" }).click()
  await look(coord, "rename or close a site")
  await coord.getByLabel("Site's name").fill("Court C annexe")
  await coord.getByLabel("Closed").check()
  await coord.getByRole("button", { name: "Save" }).click()
  await banner(coord, "Court C annexe is closed")
  const row = coord.locator("#sites tr", { hasText: "Court C annexe" })
  await row.getByText("Closed", { exact: true }).waitFor()
  check((await row.getByRole("button").count()) === 0, "no enrolment code for a closed site")
  report.siteClosed = true
  // The roster: taking a volunteer off takes a confirmation step.
  await coord.getByLabel("Volunteer's name").fill("Ann E.")
  await coord.getByRole("button", { name: "Add volunteer" }).click()
  await banner(coord, "Ann E. is on the roster")
  await coord.getByRole("button", { name: "Take off the roster Ann E." }).click()
  await coord.getByRole("heading", { name: "Take Ann E. off the roster?" }).waitFor()
  await look(coord, "take a volunteer off the roster")
  await coord.getByRole("button", { name: "Take Ann E. off the roster" }).click()
  await banner(coord, "Ann E. is taken off the roster")
  await coord.locator("#roster tr", { hasText: "Ann E." }).getByText("Left").waitFor()
  // The agency directory: added with a mistake first, changed, retired after a confirmation.
  await coord.getByRole("link", { name: "Add, change or retire agencies" }).click()
  await coord.getByRole("heading", { name: "Agency directory" }).waitFor()
  await look(coord, "agency directory")
  await coord.getByRole("button", { name: "Add an agency" }).click()
  await look(coord, "add an agency")
  await coord.getByLabel("Agency's name").fill("Shelter Cymru")
  await coord.getByLabel("Website").fill("sheltercymru.org.uk")
  await coord.getByRole("button", { name: "Add agency" }).click()
  await refused(coord, "full address", "agency-website", "sheltercymru.org.uk")
  check((await coord.getByLabel("Agency's name").inputValue()) === "Shelter Cymru", "the name is kept")
  await look(coord, "add an agency with an error")
  await coord.getByLabel("Website").fill("https://sheltercymru.org.uk")
  await coord.getByRole("button", { name: "Add agency" }).click()
  await refused(coord, "Select at least one issue", "agency-categories")
  await coord.getByLabel("Housing or accommodation").check()
  await coord.getByRole("button", { name: "Add agency" }).click()
  await banner(coord, "Shelter Cymru is in the directory")
  await coord.getByRole("link", { name: "Shelter Cymru" }).click()
  await look(coord, "change an agency")
  await coord.getByLabel("Phone number").fill("0345 075 5005")
  await coord.getByRole("button", { name: "Save changes" }).click()
  await banner(coord, "Shelter Cymru is saved")
  check((await coord.locator("#agencies").innerText()).includes("0345 075 5005"), "the phone number is listed")
  await coord.getByRole("link", { name: "Shelter Cymru" }).click()
  await coord.getByRole("button", { name: "Retire Shelter Cymru" }).click()
  await coord.getByRole("heading", { name: "Retire Shelter Cymru?" }).waitFor()
  await look(coord, "retire an agency")
  await coord.getByRole("button", { name: "Retire Shelter Cymru" }).click()
  await banner(coord, "Shelter Cymru is retired")
  await coord.locator("#agencies tr", { hasText: "Shelter Cymru" }).getByText("Retired", { exact: true }).waitFor()
  report.agencies = true
  await coord.getByRole("navigation", { name: "Breadcrumb" }).getByRole("link", { name: "Your scheme" }).click()
  // Retention in plain words.
  await coord.getByLabel("Keep records for (months)").fill("three")
  await coord.getByRole("button", { name: "Save how long records are kept" }).click()
  await refused(coord, "as a whole number", "retention-months", "three")
  // The dashboard leads back, and the footer's pages are there for everyone.
  await coord.getByRole("navigation", { name: "Menu" }).getByRole("link", { name: "Impact" }).click()
  await coord.getByRole("navigation", { name: "Menu" }).getByRole("link", { name: "Your scheme" }).waitFor()
  await look(coord, "dashboard")
  await coord.getByRole("link", { name: "Accessibility statement" }).click()
  await coord.getByRole("heading", { name: "Accessibility statement for Signpost" }).waitFor()
  await look(coord, "accessibility statement")
  await coord.getByRole("link", { name: "Privacy notice" }).click()
  await coord.getByRole("heading", { name: "How long it is kept" }).waitFor()
  await look(coord, "privacy notice")
  // A site closed while its tablet is open: the tablet says so and stops offering the log.
  const { page: tablet } = await tabletPage(browser)
  pages.push(tablet)
  await tablet.goto(url)
  await tablet.getByLabel("Enrolment code").fill(env("TOKEN"))
  await tablet.getByRole("button", { name: "Continue" }).click()
  await tablet.locator("#sync-state", { hasText: "Online" }).waitFor({ timeout: 20000 })
  await coord.goto(`${url}/manage/schemes/${scheme}`)
  await coord.getByRole("link", { name: `Rename or close ${siteName}` }).click()
  await coord.getByLabel("Closed").check()
  await coord.getByRole("button", { name: "Save" }).click()
  await banner(coord, `${siteName} is closed`)
  await tablet.locator("#site-closed", { hasText: "This desk is closed" }).waitFor({ timeout: 10000 })
  check(!(await tablet.locator("#log-heading").isVisible()), "a closed desk logs nothing more")
  await runAxe(tablet, "tablet at a closed site", report)
  report.tabletTold = true
  const visitor = await newPage()
  await visitor.goto(`${url}/privacy`)
  await visitor.getByRole("heading", { name: "Privacy notice" }).waitFor()
  await look(visitor, "privacy notice, signed out")

  check(errors.length === 0, `page errors: ${errors.join("; ")}`)
  report.ok = true
} catch (e) {
  for (const p of pages) {
    const shown = await p.evaluate(() => document.body.innerText).catch(() => "(closed)")
    console.error(`--- ${p.url()} showed:\n${shown.slice(0, 3000)}`)
  }
  console.error(e.stack)
  throw e
} finally {
  await browser.close()
}
console.log(JSON.stringify(report))
