// What the browser scripts share: Debian's Chromium launched headless for this machine's closed
// network, checks that fail with a clear message, and axe-core runs.
import { chromium } from "playwright-core"
import { createRequire } from "node:module"
import { readFileSync } from "node:fs"

const require = createRequire(import.meta.url)

// A script that stalls (a browser that never answers) fails instead of holding up the test run;
// every script needs far less than this.
setTimeout(() => {
  console.error("the browser script took over 5 minutes: stopped")
  process.exit(1)
}, 300_000).unref()

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  })
}

export function env(k) {
  const v = process.env[k]
  if (!v) throw new Error(`missing environment variable ${k}`)
  return v
}

export function check(cond, what) {
  if (!cond) throw new Error(`browser check failed: ${what}`)
}

// Runs axe-core (WCAG 2.x A and AA, and axe's best practices: every part of a page inside a
// landmark, no empty table header, one main heading …) on the page, records the result under
// `name` in `report.screens` and fails on any violation.
export async function axe(page, name, report) {
  // Evaluated rather than added as a <script>: the app's Content-Security-Policy (scripts from
  // its own origin only) would block an inline script, and must not be turned off to test it.
  await page.evaluate(readFileSync(require.resolve("axe-core/axe.min.js"), "utf8"))
  const result = await page.evaluate(() => axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] }))
  const violations = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`)
  report.screens[name] = { violations }
  check(violations.length === 0, `axe found violations on ${name}: ${violations.join("; ")}`)
}

// Fails if the page scrolls sideways, or a table or button reaches past the screen's edge
// (the screens must work at 768 px wide; a table may scroll inside its own box).
export async function fitsWidth(page, name) {
  const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  check(over <= 0, `${name} is ${over} px wider than the screen`)
  const cut = await page.evaluate(() =>
    [...document.querySelectorAll("table, .govuk-button")]
      .filter((e) => !e.closest(".signpost-scroll") && e.getBoundingClientRect().right > window.innerWidth)
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""} "${e.innerText.slice(0, 30)}"`),
  )
  check(cut.length === 0, `${name}: cut off at the screen's edge: ${cut.join(", ")}`)
}

// Collects what must never happen on a page: uncaught errors, and anything the page's
// Content-Security-Policy blocked (the app must run whole under it).
export function watch(page, errors) {
  page.on("pageerror", (e) => errors.push(String(e)))
  page.on("console", (m) => {
    if (m.type() === "error" && m.text().includes("Content Security Policy")) errors.push(m.text())
  })
}

// Referrals the relay counted for the fixture's scheme between two days (YYYY-MM-DD), through
// the statistics API with the fixture's administrator credential.
export async function counted(from, to) {
  const [url, scheme, adminToken] = [env("SIGNPOST_URL"), env("SCHEME"), env("ADMIN_TOKEN")]
  const res = await fetch(`${url}/api/v1/stats/summary?scheme=${scheme}&from=${from}&to=${to}`, { headers: { authorization: `Bearer ${adminToken}` } })
  return (await res.json()).referrals
}

// Every record of the tablet's IndexedDB, as plain arrays: `docs` and `sync` by document id,
// `changes` as [id, n, bytes].
export async function records(page) {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open("signpost")
        open.onerror = () => reject(open.error)
        open.onsuccess = () => {
          const db = open.result
          const tx = db.transaction(["docs", "changes", "sync"])
          const out = { docs: {}, changes: [], sync: {} }
          const all = (name, f) => {
            const q = tx.objectStore(name).openCursor()
            q.onsuccess = () => {
              const c = q.result
              if (!c) return
              f(c.key, Array.from(new Uint8Array(c.value.doc ?? c.value)))
              c.continue()
            }
          }
          all("docs", (k, v) => (out.docs[k] = v))
          all("sync", (k, v) => (out.sync[k] = v))
          all("changes", (k, v) => out.changes.push([k[0], k[1], v]))
          tx.oncomplete = () => {
            db.close()
            resolve(out)
          }
        }
      }),
  )
}


// A tablet's page at 768 px wide, with `errors` collecting what must never happen (`watch`).
export async function tabletPage(browser) {
  const context = await browser.newContext({ viewport: { width: 768, height: 1024 } })
  const page = await context.newPage()
  const errors = []
  watch(page, errors)
  return { context, page, errors }
}

// Chooses "another agency" in the log form and types its name (its field appears once chosen).
export async function otherAgency(page, name) {
  await page.getByLabel("Another agency (not in the directory)").check()
  await page.getByLabel("Other agency's name").fill(name)
}

// Starts a shift for the volunteer unless someone is on the desk: referrals are logged by the
// volunteer on it.
export async function onShift(page, name) {
  // The roster comes with the scheme's directory: wait until the desk shows it.
  await page.locator("#on-desk").waitFor({ timeout: 20000 })
  if (await page.getByRole("button", { name: "Start shift" }).isVisible()) {
    await page.getByLabel(name, { exact: true }).check()
    await page.getByRole("button", { name: "Start shift" }).click()
    await page.locator("#on-desk", { hasText: `${name} is on the desk` }).waitFor()
  }
}

// Every piece of text on the page, visually hidden text included (screen readers read it), the
// language switch aside (it names both languages in each), and parts marked as in a language of
// their own (`lang` on an element inside the page: records kept as they were written).
export function texts(page) {
  return page.evaluate(() => {
    const out = []
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
    while (walk.nextNode()) {
      const t = walk.currentNode.textContent.trim()
      const el = walk.currentNode.parentElement
      if (t && !el.closest("script, style, noscript, [hidden], .govuk-language-navigation, body [lang]")) out.push(t)
    }
    return out
  })
}

// What a Welsh screen shows that its English one showed too, other than data: names (of people,
// places, agencies, schemes; `names`), email addresses, codes, times and numbers.
export function untranslated(english, welsh, names) {
  const sorted = [...names].sort((a, b) => b.length - a.length)
  const isData = (t) => {
    let rest = t
    for (const n of sorted) rest = rest.split(n).join("")
    rest = rest.replace(/[\w.+-]+@[\w.-]+/g, "").replace(/\b[A-Z0-9]{4}-[A-Z0-9]{4}\b/g, "").replace(/\b\d{4}-Q\d\b/g, "")
    return /^[\d\s:.,;()!?–\-–"'%/\[\]·]*$/.test(rest)
  }
  const seen = new Set(english)
  return welsh.filter((t) => seen.has(t) && !isData(t))
}
