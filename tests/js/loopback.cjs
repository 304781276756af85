// Preload (`node -r ./loopback.cjs …`) that makes every `listen(port)` bind 127.0.0.1 only.
// The JavaScript sync server calls `app.listen(PORT)`, which would otherwise bind all interfaces.
const net = require("net")
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number" || (typeof args[0] === "string" && /^\d+$/.test(args[0]))) {
    if (typeof args[1] !== "string") args.splice(1, 0, "127.0.0.1")
  } else if (args[0] && typeof args[0] === "object" && !args[0].path) {
    args[0] = { ...args[0], host: "127.0.0.1" }
  }
  return listen.apply(this, args)
}
