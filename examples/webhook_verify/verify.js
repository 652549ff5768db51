// Verify an iotgw webhook delivery (Standard Webhooks signature), Node.js built-ins only.
//
//   node examples/webhook_verify/verify.js SECRET WEBHOOK_ID WEBHOOK_TIMESTAMP SIGNATURES < body
//
// Prints "valid" and exits 0, or "invalid: <reason>" and exits 1. Use verify() in your own
// handler with the three headers and the raw body exactly as received (a Buffer, before any
// JSON parsing: e.g. express.raw({type: "application/json"})).
"use strict";

const crypto = require("node:crypto");

const TOLERANCE_S = 300; // refuse deliveries older or newer than this (replays)

function verify(secret, msgId, timestamp, signatures, body, nowS = Date.now() / 1000) {
  if (!/^\d+$/.test(timestamp)) return "webhook-timestamp is not an integer";
  const ts = Number(timestamp);
  if (Math.abs(nowS - ts) > TOLERANCE_S) return "webhook-timestamp is outside the tolerance";
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = crypto
    .createHmac("sha256", key)
    .update(Buffer.concat([Buffer.from(`${msgId}.${ts}.`), body]))
    .digest();
  for (const candidate of signatures.split(" ")) { // several during a secret rotation
    const [version, value] = candidate.split(",", 2);
    if (version !== "v1" || !value) continue;
    const given = Buffer.from(value, "base64");
    if (given.length === expected.length && crypto.timingSafeEqual(given, expected)) return null;
  }
  return "no matching v1 signature";
}

module.exports = { verify };

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args.length !== 4) {
    console.error("usage: node verify.js SECRET WEBHOOK_ID WEBHOOK_TIMESTAMP SIGNATURES < body");
    process.exit(2);
  }
  const chunks = [];
  process.stdin.on("data", (c) => chunks.push(c));
  process.stdin.on("end", () => {
    const reason = verify(...args, Buffer.concat(chunks));
    console.log(reason === null ? "valid" : `invalid: ${reason}`);
    process.exit(reason === null ? 0 : 1);
  });
}
