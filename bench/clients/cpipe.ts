/**
 * cpipe's side of the benchmark; runs under Deno and Bun.
 * `deno run -A bench/clients/cpipe.ts --workload W2 --port 6379` or `bun bench/clients/cpipe.ts …`.
 * The pool kinds and `latency`/`latencyIdle` use the async pool (`connectPool`), the others the
 * synchronous client (`connect`).
 */
import { readFileSync } from "node:fs";
import * as cpipe from "../../mod.ts";
import meta from "../../deno.json" with { type: "json" };
import { type ClientDef, expect, main, type Params, timeCalls } from "./runner.mjs";
import { field, KEY } from "../spec.mjs";

interface Conn {
  client: cpipe.Client | null;
  pool: cpipe.Pool | null;
}

function fieldOf(i: number, p: Params): string {
  return field(p.fields > 0 ? i % p.fields : i);
}

const POOLED = new Set<string>(["pool", "poolSeq", "poolGet", "latency", "latencyIdle"]);

const def: ClientDef<Conn> = {
  name: "cpipe",
  version: meta.version,
  open(p) {
    const tls = p.tlsCa === undefined ? undefined : { ca: readFileSync(p.tlsCa, "utf8") };
    if (POOLED.has(p.kind)) {
      return { client: null, pool: cpipe.connectPool({ host: p.host, port: p.port, size: p.size, tls }) };
    }
    return { client: cpipe.connect(p.host, p.port, { tls }), pool: null };
  },
  async close(c) {
    c.client?.close();
    await c.pool?.close();
  },
  kinds: {
    seq(c, n, p) {
      const r = c.client!;
      for (let i = 0; i < n; i++) r.hset(KEY, fieldOf(i, p), "1");
    },
    pipe(c, n, p) {
      const r = c.client!;
      for (let i = 0; i < n;) {
        const end = Math.min(n, i + p.batch), start = i;
        for (; i < end; i++) r.addCommand("hset", KEY, fieldOf(i, p), "1");
        const replies = r.execute();
        expect(replies.length === end - start && typeof replies[replies.length - 1] === "number", "HSET");
      }
    },
    hget(c, n, p) {
      const r = c.client!;
      for (let i = 0; i < n;) {
        const end = Math.min(n, i + p.batch), start = i;
        for (; i < end; i++) r.addCommand("hget", KEY, fieldOf(i, p));
        const replies = r.execute();
        expect(replies.length === end - start && replies[replies.length - 1] === "1", "HGET");
      }
    },
    async pool(c, n, p) {
      const pool = c.pool!;
      for (let i = 0; i < n;) {
        const end = Math.min(n, i + p.batch), pending: Promise<number>[] = [];
        for (; i < end; i++) pending.push(pool.hset(KEY, fieldOf(i, p), "1"));
        const replies = await Promise.all(pending);
        expect(typeof replies[replies.length - 1] === "number", "HSET");
      }
    },
    async poolSeq(c, n, p) {
      const pool = c.pool!;
      const worker = async (w: number) => {
        for (let i = w; i < n; i += p.size) await pool.hset(KEY, fieldOf(i, p), "1");
      };
      await Promise.all(Array.from({ length: p.size }, (_, w) => worker(w)));
    },
    async poolGet(c, n, p) {
      const pool = c.pool!;
      const pending: Promise<string | null>[] = new Array(n);
      for (let i = 0; i < n; i++) pending[i] = pool.get(fieldOf(i, p));
      const replies = await Promise.all(pending);
      expect(replies.length === n && replies.every((v) => v === "1"), "GET");
    },
    latency: (c, n, p) => timeCalls(n, false, (i) => c.pool!.get(fieldOf(i, p))),
    latencyIdle: (c, n, p) => timeCalls(n, true, (i) => c.pool!.get(fieldOf(i, p))),
    latencySync: (c, n, p) => timeCalls(n, false, (i) => c.client!.get(fieldOf(i, p))),
    latencyIdleSync: (c, n, p) => timeCalls(n, true, (i) => c.client!.get(fieldOf(i, p))),
  },
};

await main(def);
