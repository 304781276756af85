// Browser check of the tablet app, in headless Debian Chromium driven by playwright-core:
// set-up screen (validation in the GOV.UK error-summary pattern, a refused credential, a good one),
// the desk screen with its live sync state, persistence across reload, and axe-core (WCAG 2.x
// A/AA) on every screen, at 768 px wide.
//
// Environment: SIGNPOST_URL, TOKEN (a device credential), SITE_NAME.
import { chromium } from "playwright-core"
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)
const env = (k) => {
  const v = process.env[k]
  if (!v) throw new Error(`missing environment variable ${k}`)
  return v
}
const [url, token, siteName] = [env("SIGNPOST_URL"), env("TOKEN"), env("SITE_NAME")]

function check(cond, what) {
  if (!cond) throw new Error(`browser check failed: ${what}`)
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
})
const report = { screens: {} }
try {
  const context = await browser.newContext({ viewport: { width: 768, height: 1024 } })
  const page = await context.newPage()
  const errors = []
  page.on("pageerror", (e) => errors.push(String(e)))

  async function axe(name) {
    await page.addScriptTag({ path: require.resolve("axe-core/axe.min.js") })
    const result = await page.evaluate(() => axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] }))
    const violations = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.length})`)
    report.screens[name] = { violations }
    check(violations.length === 0, `axe found violations on ${name}: ${violations.join("; ")}`)
  }

  await page.goto(url)
  await page.getByRole("heading", { name: "Set up this tablet" }).waitFor({ timeout: 20000 })
  await axe("set-up")

  // Nothing entered: the error summary appears, takes focus and links to the field.
  await page.getByRole("button", { name: "Continue" }).click()
  await page.locator("#error-summary").waitFor()
  check(await page.locator("#error-summary").evaluate((el) => el === document.activeElement), "error summary has focus")
  check((await page.locator(".govuk-error-message").innerText()).includes("Enter the tablet credential"), "field error message")
  await axe("set-up with an error")

  // A well-formed credential the relay does not know.
  await page.getByLabel("Tablet credential").fill("spd_" + "x".repeat(43))
  await page.getByRole("button", { name: "Continue" }).click()
  await page.getByText("This credential is not recognised").first().waitFor()

  // The real one: the desk screen, named after the site, goes online.
  await page.getByLabel("Tablet credential").fill(token)
  await page.getByRole("button", { name: "Continue" }).click()
  await page.getByRole("heading", { name: siteName }).waitFor({ timeout: 10000 })
  await page.locator("#sync-state", { hasText: "Online" }).waitFor({ timeout: 10000 })
  await axe("desk")

  // The credential survives a reload.
  await page.reload()
  await page.getByRole("heading", { name: siteName }).waitFor({ timeout: 10000 })
  await page.locator("#sync-state", { hasText: "Online" }).waitFor({ timeout: 10000 })

  // Large tap targets: every button at least 44 px high.
  const small = await page.$$eval("button", (bs) => bs.filter((b) => b.getBoundingClientRect().height < 44).length)
  check(small === 0, `${small} buttons are under 44 px high`)
  check(errors.length === 0, `page errors: ${errors.join("; ")}`)
  report.ok = true
} finally {
  await browser.close()
}
console.log(JSON.stringify(report))
