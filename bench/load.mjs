/**
 * The H workloads' load generator: autocannon (pinned in package.json) against the cache-aside service, cycling
 * through `--items` ids (`/item/0`, `/item/1`, …); prints one JSON line: requests/s, latencies in ms, errors.
 *
 *     node bench/load.mjs --url http://127.0.0.1:PORT --connections 50 --duration 10 --items 1000
 */
import autocannon from "autocannon";
import process from "node:process";

const a = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) a[argv[i].replace(/^--/, "")] = argv[i + 1];
const items = Number(a.items ?? 1000);
let next = 0;

const result = await autocannon({
  url: a.url,
  connections: Number(a.connections ?? 50),
  duration: Number(a.duration ?? 10),
  requests: [{
    setupRequest(req) {
      req.path = `/item/${next}`;
      next = next + 1 === items ? 0 : next + 1;
      return req;
    },
  }],
});
console.log(JSON.stringify({
  type: "load",
  requests: result.requests.total,
  seconds: result.duration,
  rps: result.requests.total / result.duration,
  p50Ms: result.latency.p50,
  p99Ms: result.latency.p99,
  errors: result.errors + result.timeouts,
  non2xx: result.non2xx,
}));
