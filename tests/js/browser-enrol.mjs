// Browser check of enrolment and revocation, in headless Debian Chromium driven by playwright-core:
// a coordinator chooses a password and signs in (web pages), adds a volunteer, asks for PINs and
// sets hers, and creates an enrolment code; a tablet enrols with it, the volunteer starts her
// shift with her PIN (a wrong one is refused) and logs a referral; the tablet logs another while
// offline; the coordinator revokes it. A second tablet, online when revoked, shows it within 5 s;
// the first shows it when it reconnects and still holds its unsynced entry; enrolled again with a
// new code, it sends that entry. axe-core (WCAG 2.x A/AA) runs on every page, at 768 px wide.
//
// Then a national reviewer signs in to the national tables and is refused a scheme's page.
//
// Environment: SIGNPOST_URL, SCHEME, SITE_NAME, COORD_EMAIL, SET_PASSWORD_CODE, NATIONAL_EMAIL,
// NATIONAL_CODE, ADMIN_TOKEN.
import { axe as runAxe, check, env, fitsWidth, launch, otherAgency, watch } from "./browser.mjs"

const [url, scheme, siteName, email, setPasswordCode, adminToken] = ["SIGNPOST_URL", "SCHEME", "SITE_NAME", "COORD_EMAIL", "SET_PASSWORD_CODE", "ADMIN_TOKEN"].map(env)
const password = "correct horse battery staple"

async function counted() {
  const day = new Date().toISOString().slice(0, 10)
  const res = await fetch(`${url}/api/v1/stats/summary?scheme=${scheme}&from=${day}&to=${day}`, { headers: { authorization: `Bearer ${adminToken}` } })
  return (await res.json()).referrals
}
async function until(what, f, ms = 15000) {
  const end = Date.now() + ms
  for (;;) {
    if (await f()) return
    if (Date.now() > end) throw new Error(`browser check failed: timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
const browser = await launch()
const report = { screens: {} }
const pages = []
try {
  const viewport = { width: 768, height: 1024 }
  const errors = []
  async function newPage(context) {
    const p = await context.newPage()
    watch(p, errors)
    pages.push(p)
    return p
  }
  const axe = (p, name) => runAxe(p, name, report)

  // The coordinator chooses a password and signs in.
  // bypassCSP: the pages forbid scripts; axe-core is injected as one.
  const coord = await newPage(await browser.newContext({ viewport, bypassCSP: true }))
  await coord.goto(`${url}/set-password?code=${encodeURIComponent(setPasswordCode)}`)
  await axe(coord, "create your password")
  await coord.getByLabel("Password", { exact: true }).fill("too short")
  await coord.getByLabel("Confirm password").fill("too short")
  await coord.getByRole("button", { name: "Save password" }).click()
  await coord.getByText("The password must be 12 characters or more").first().waitFor()
  await axe(coord, "create your password with an error")
  await coord.getByLabel("Password", { exact: true }).fill(password)
  await coord.getByLabel("Confirm password").fill(password)
  await coord.getByRole("button", { name: "Save password" }).click()
  await coord.getByText("Your password is set").waitFor()
  await axe(coord, "sign in")
  await coord.getByLabel("Email address").fill(email)
  await coord.getByLabel("Password").fill("wrong password entirely")
  await coord.getByRole("button", { name: "Sign in" }).click()
  await coord.getByText("Enter a correct email address and password").first().waitFor()
  await axe(coord, "sign in with an error")
  await coord.getByLabel("Email address").fill(email)
  await coord.getByLabel("Password").fill(password)
  await coord.getByRole("button", { name: "Sign in" }).click()
  await coord.getByRole("heading", { name: "Sites and tablets" }).waitFor()
  await coord.getByLabel("Volunteer's name").fill("Ann E.")
  await coord.getByRole("button", { name: "Add volunteer" }).click()
  await coord.locator("#roster", { hasText: "Ann E." }).waitFor()
  await coord.locator("#success-message", { hasText: "Ann E. is on the roster" }).waitFor()
  // A second "Ann E." would be two names nobody can tell apart on the tablet.
  await coord.getByLabel("Volunteer's name").fill("ann e.")
  await coord.getByRole("button", { name: "Add volunteer" }).click()
  await coord.locator(".govuk-error-summary", { hasText: "Ann E. is already on the roster" }).waitFor()
  check((await coord.title()).startsWith("Error: "), `the title says there is an error: ${await coord.title()}`)
  check((await coord.getByLabel("Volunteer's name").inputValue()) === "ann e.", "what was typed is kept")
  await axe(coord, "scheme with an error")
  // Volunteers enter a PIN to start a shift: not while Ann has none (she could not start one).
  await coord.getByLabel("Yes").check()
  await coord.getByRole("button", { name: "Save PIN setting" }).click()
  await coord.locator("#pin-required-error", { hasText: "Set a PIN for Ann E." }).waitFor()
  // Ann's is 0472; a PIN of three digits is refused beside the field.
  await coord.getByLabel("PIN (not set) for Ann E.").fill("047")
  await coord.getByRole("button", { name: "Set PIN for Ann E." }).click()
  await coord.locator(".govuk-error-summary", { hasText: "Enter a PIN of 4 digits" }).waitFor()
  await coord.getByLabel("PIN (not set) for Ann E.").fill("0472")
  await coord.getByRole("button", { name: "Set PIN for Ann E." }).click()
  await coord.getByLabel("New PIN for Ann E.").waitFor()
  await coord.getByLabel("Yes").check()
  await coord.getByRole("button", { name: "Save PIN setting" }).click()
  await coord.locator("#success-message", { hasText: "Volunteers now enter their PIN" }).waitFor()
  await axe(coord, "scheme")
  await fitsWidth(coord, "the scheme page")

  async function newCode() {
    await coord.goto(`${url}/manage/schemes/${scheme}`)
    await coord.getByRole("button", { name: `Create an enrolment code for ${siteName}` }).click()
    const code = (await coord.locator("#enrolment-code").innerText()).trim()
    check(/^[A-Z2-9]{4}-[A-Z2-9]{4}$/.test(code), `a code like ABCD-EFGH (${code})`)
    return code
  }
  const code = await newCode()
  await axe(coord, "enrolment code")

  // The tablet enrols: a mistyped code first, then the real one.
  const tabletContext = await browser.newContext({ viewport, bypassCSP: true })
  let tablet = await newPage(tabletContext)
  await tablet.goto(url)
  await tablet.getByLabel("Enrolment code").fill("ZZZZ-ZZZZ")
  await tablet.getByRole("button", { name: "Continue" }).click()
  await tablet.getByText("This enrolment code is not valid").first().waitFor()
  await tablet.getByLabel("Enrolment code").fill(code.toLowerCase())
  await tablet.getByLabel("Name for this tablet (optional)").fill("Front desk")
  await tablet.getByRole("button", { name: "Continue" }).click()
  await tablet.getByRole("heading", { name: siteName }).waitFor({ timeout: 10000 })
  await tablet.locator("#sync-state", { hasText: "Online" }).waitFor({ timeout: 10000 })
  await tablet.getByLabel("Ann E.").waitFor({ timeout: 10000 })
  await tablet.getByLabel("Your PIN").waitFor({ timeout: 10000 })
  await tablet.getByLabel("Ann E.").check()
  await tablet.getByLabel("Your PIN").fill("1234")
  await tablet.getByRole("button", { name: "Start shift" }).click()
  await tablet.getByText("The PIN is not right").waitFor()
  await tablet.getByLabel("Your PIN").fill("0472")
  await tablet.getByRole("button", { name: "Start shift" }).click()
  await tablet.locator("#on-desk", { hasText: "Ann E. is on the desk" }).waitFor()
  report.pin = true

  // Ann fills in the equality-monitoring form: consent first; sent at once while online.
  await tablet.getByRole("link", { name: "Equality monitoring form (voluntary)" }).click()
  await tablet.getByRole("heading", { name: "Equality monitoring" }).waitFor()
  await tablet.locator("#volunteer-name", { hasText: "Ann E." }).waitFor()
  await axe(tablet, "equality form")
  await fitsWidth(tablet, "the equality form")
  await tablet.getByLabel("Female").check()
  await tablet.getByRole("button", { name: "Send my answers" }).click()
  await tablet.locator("#consent-error").waitFor()
  await tablet.getByLabel("I agree to my answers being used in this way").check()
  await tablet.getByRole("button", { name: "Send my answers" }).click()
  await tablet.getByRole("heading", { name: "Thank you" }).waitFor()
  // Offline: kept on the tablet, then sent (and removed) once online again.
  await tablet.evaluate(() => navigator.serviceWorker.ready)
  await tabletContext.setOffline(true)
  await tablet.reload()
  await tablet.getByRole("heading", { name: "Equality monitoring" }).waitFor()
  await tablet.getByLabel("Prefer not to say").first().check()
  await tablet.getByLabel("I agree to my answers being used in this way").check()
  await tablet.getByRole("button", { name: "Send my answers" }).click()
  await tablet.getByText("Your answers will be sent when the tablet is online").waitFor()
  const waiting = () =>
    tablet.evaluate(
      () =>
        new Promise((resolve) => {
          const req = indexedDB.open("signpost")
          req.onsuccess = () => {
            const keys = req.result.transaction("meta").objectStore("meta").getAllKeys()
            keys.onsuccess = () => resolve(keys.result.filter((k) => String(k).startsWith("equality:")).length)
          }
        }),
    )
  check((await waiting()) === 1, "the answers wait in the tablet's outbox")
  await tabletContext.setOffline(false)
  await tablet.reload()
  await until("the outbox to empty once online", async () => (await waiting()) === 0)
  report.equality = true
  await tablet.goto(url)
  await tablet.locator("#on-desk", { hasText: "Ann E. is on the desk" }).waitFor({ timeout: 10000 })

  async function logReferral(p, agency) {
    await p.getByLabel("Victim", { exact: true }).check()
    await p.getByLabel("Housing or accommodation").check()
    await otherAgency(p, agency)
    await p.getByLabel("Information given").check()
    await p.locator("#follow-up").check()
    await p.getByRole("button", { name: "Save referral" }).click()
    await p.locator("tr.referral-row", { hasText: agency }).waitFor()
  }
  await logReferral(tablet, "Citizens Advice")
  await until("the first referral to be counted", async () => (await counted()) === 1)

  // Offline: one more, which waits to sync.
  await tablet.evaluate(() => navigator.serviceWorker.ready)
  await tabletContext.setOffline(true)
  await tablet.reload()
  await tablet.locator("#sync-state", { hasText: "Offline" }).waitFor({ timeout: 15000 })
  await logReferral(tablet, "Food bank")
  check((await tablet.locator("#sync-detail").innerText()).includes("1 entry waiting to sync"), "one entry waits")

  // A second tablet, online.
  const code2 = await newCode()
  const other = await newPage(await browser.newContext({ viewport }))
  await other.goto(url)
  await other.getByLabel("Enrolment code").fill(code2)
  await other.getByLabel("Name for this tablet (optional)").fill("Back office")
  await other.getByRole("button", { name: "Continue" }).click()
  await other.locator("#sync-state", { hasText: "Online" }).waitFor({ timeout: 10000 })

  // The coordinator revokes both.
  await coord.goto(`${url}/manage/schemes/${scheme}`)
  await coord.locator("#tablets", { hasText: "Front desk" }).waitFor()
  // Revoking takes a confirmation step.
  await coord.getByRole("button", { name: "Revoke Front desk" }).click()
  await coord.getByRole("heading", { name: "Revoke Front desk?" }).waitFor()
  await axe(coord, "revoke a tablet")
  await coord.getByRole("button", { name: "Revoke Front desk" }).click()
  await coord.locator("#success-message", { hasText: "Front desk is revoked" }).waitFor()
  await coord.locator("#tablets tr", { hasText: "Front desk" }).getByText("Revoked").waitFor()
  await coord.getByRole("button", { name: "Revoke Back office" }).click()
  const revokedAt = Date.now()
  await coord.getByRole("button", { name: "Revoke Back office" }).click()
  await other.locator("#sync-state", { hasText: "Access removed" }).waitFor({ timeout: 5000 })
  report.liveRevocationMs = Date.now() - revokedAt
  await other.locator("#revoked").waitFor()
  await axe(other, "tablet revoked")

  // The first tablet comes back online: refused, told so, the unsynced entry kept.
  await tabletContext.setOffline(false)
  await tablet.reload()
  await tablet.locator("#sync-state", { hasText: "Access removed" }).waitFor({ timeout: 15000 })
  const banner = await tablet.locator("#revoked").innerText()
  check(banner.includes("1 entry saved on this tablet has not been sent"), `the banner counts the kept entry: ${banner}`)
  check((await tablet.locator("tr.referral-row", { hasText: "Food bank" }).count()) === 1, "the unsynced entry is still listed")
  check((await counted()) === 1, "the revoked tablet's entry did not reach the relay")
  report.kept = true

  // Enrolled again with a new code: the kept entry is sent.
  const code3 = await newCode()
  await tablet.getByRole("button", { name: "Enrol again" }).click()
  await tablet.getByLabel("Enrolment code").fill(code3)
  await tablet.getByRole("button", { name: "Continue" }).click()
  await tablet.locator("#sync-state", { hasText: "Online" }).waitFor({ timeout: 10000 })
  await until("the kept entry to be counted after enrolling again", async () => (await counted()) === 2)
  report.resent = true

  // The coordinator's dashboard shows both referrals, as a chart and a table, and as CSV.
  await coord.goto(`${url}/manage/schemes/${scheme}`)
  await coord.getByRole("link", { name: "Impact: referrals, volunteer hours and more" }).click()
  await coord.getByRole("heading", { name: "Impact" }).waitFor()
  const headline = await coord.locator("#headline tbody tr", { hasText: "Referrals" }).first().locator("td").first().innerText()
  check(headline.trim() === "2", `the dashboard counts 2 referrals (${headline})`)
  check((await coord.locator("#table-by-site").innerText()).includes(siteName), "referrals by site name the site")
  check((await coord.locator("svg#chart-by-site, svg[aria-labelledby^='chart-by_site']").count()) === 1, "a chart of referrals by site")
  await axe(coord, "dashboard")
  await fitsWidth(coord, "the dashboard")
  const csvHref = await coord.getByRole("link", { name: "Download these figures (CSV)" }).getAttribute("href")
  const csvText = await coord.evaluate((h) => fetch(h).then((r) => r.text()), csvHref)
  // Every field is quoted (a spreadsheet using ";" still reads each whole).
  check(csvText.split("\r\n")[1].startsWith('"referrals","2",'), `the CSV agrees with the screen: ${csvText}`)
  report.dashboard = { referrals: 2 }

  // A national reviewer sees the national tables, disclosure control applied, and nothing else.
  const nationalPage = await newPage(await browser.newContext({ viewport, bypassCSP: true }))
  await nationalPage.goto(`${url}/set-password?code=${encodeURIComponent(env("NATIONAL_CODE"))}`)
  await nationalPage.getByLabel("Password", { exact: true }).fill(password)
  await nationalPage.getByLabel("Confirm password").fill(password)
  await nationalPage.getByRole("button", { name: "Save password" }).click()
  await nationalPage.getByLabel("Email address").fill(env("NATIONAL_EMAIL"))
  await nationalPage.getByLabel("Password").fill(password)
  await nationalPage.getByRole("button", { name: "Sign in" }).click()
  await nationalPage.getByRole("heading", { name: "National volunteering statistics" }).waitFor()
  await nationalPage.locator("#referrals-by-region").waitFor()
  await axe(nationalPage, "national statistics")
  await fitsWidth(nationalPage, "the national statistics")
  await nationalPage.goto(`${url}/manage/schemes/${scheme}`)
  await nationalPage.getByText("You can only manage your own scheme").waitFor()
  report.national = true

  // The coordinator signs out.
  await coord.goto(`${url}/manage/schemes/${scheme}`)
  await coord.getByRole("button", { name: "Sign out" }).click()
  await coord.getByRole("heading", { name: "Sign in to Signpost" }).waitFor()
  await coord.goto(`${url}/manage/schemes/${scheme}`)
  await coord.getByRole("heading", { name: "Sign in to Signpost" }).waitFor()

  check(errors.length === 0, `page errors: ${errors.join("; ")}`)
  report.ok = true
} catch (e) {
  for (const p of pages) {
    const shown = await p.evaluate(() => document.body.innerText).catch(() => "(closed)")
    console.error(`--- ${p.url()} showed:\n${shown.slice(0, 2000)}`)
  }
  console.error(e.stack)
  throw e
} finally {
  await browser.close()
}
console.log(JSON.stringify(report))
