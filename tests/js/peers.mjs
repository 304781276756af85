// Unmodified automerge-repo 2.x peers (Node) against the Signpost relay: what the interop
// scripts share. Environment: SIGNPOST_URL (http://127.0.0.1:PORT).
import { Repo, interpretAsDocumentId, stringifyAutomergeUrl } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { createHash } from "node:crypto"

export const env = (k) => {
  const v = process.env[k]
  if (!v) throw new Error(`missing environment variable ${k}`)
  return v
}
const base = env("SIGNPOST_URL").replace(/^http/, "ws")
export const syncUrl = (token) => (token ? `${base}/sync?token=${encodeURIComponent(token)}` : `${base}/sync`)

export function check(cond, what) {
  if (!cond) {
    console.error(`interop check failed: ${what}`)
    process.exit(1)
  }
}

// docs/schema.md, "Well-known document ids": the first 16 bytes of
// SHA-256("signpost/desk-day/<site>/<YYYY-MM-DD>") with the UUID version-4 and variant bits set,
// as an automerge document id.
export function deskDayUrl(site, day) {
  const bytes = new Uint8Array(createHash("sha256").update(`signpost/desk-day/${site}/${day}`).digest().subarray(0, 16))
  bytes[6] = (bytes[6] & 0x0f) | 0x40
  bytes[8] = (bytes[8] & 0x3f) | 0x80
  const documentId = interpretAsDocumentId(bytes)
  return stringifyAutomergeUrl({ documentId })
}

export const repos = []
export function repo(token) {
  const r = new Repo({ network: [new WebSocketClientAdapter(syncUrl(token), 200)], sharePolicy: async () => true })
  repos.push(r)
  return r
}

export async function within(ms, promise, what) {
  let timer
  const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)))
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export async function findOutcome(r, url, ms) {
  try {
    const h = await within(ms, r.find(url), "find")
    return { found: true, doc: h.doc() }
  } catch (e) {
    return { found: false, reason: String(e.message || e) }
  }
}

export async function waitFor(ms, fn, what) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const v = await fn()
    if (v) return v
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timeout: ${what}`)
}

