/**
 * cpipe's side of the benchmark; runs under Deno and Bun.
 * `deno run -A bench/clients/cpipe.ts --workload W2 --port 6379` or `bun bench/clients/cpipe.ts …`.
 */
import * as cpipe from "../../mod.ts";
import meta from "../../deno.json" with { type: "json" };
import { type ClientDef, expect, main, type Params } from "./runner.mjs";
import { field, KEY } from "../spec.mjs";

/** The async pool's surface used here (issue 4), feature-detected so this runs before it exists. */
interface Pool {
  hset(key: string, field: string, value: string): Promise<unknown>;
  close(): unknown;
}
type ConnectPool = (options: { host: string; port: number; size: number }) => Pool | Promise<Pool>;
const connectPool = (cpipe as unknown as Record<string, unknown>)["connectPool"] as ConnectPool | undefined;

interface Conn {
  client: cpipe.Client | null;
  pool: Pool | null;
}

function fieldOf(i: number, p: Params): string {
  return field(p.fields > 0 ? i % p.fields : i);
}

const def: ClientDef<Conn> = {
  name: "cpipe",
  version: meta.version,
  async open(p) {
    if (p.kind === "pool" || p.kind === "poolSeq") {
      return { client: null, pool: await connectPool!({ host: p.host, port: p.port, size: p.size }) };
    }
    return { client: cpipe.connect(p.host, p.port), pool: null };
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
    ...(connectPool
      ? {
        async pool(c: Conn, n: number, p: Params) {
          const pool = c.pool!;
          const pending: Promise<unknown>[] = new Array(n);
          for (let i = 0; i < n; i++) pending[i] = pool.hset(KEY, fieldOf(i, p), "1");
          const replies = await Promise.all(pending);
          expect(replies.length === n, "HSET");
        },
        async poolSeq(c: Conn, n: number, p: Params) {
          const pool = c.pool!;
          const worker = async (w: number) => {
            for (let i = w; i < n; i += p.size) await pool.hset(KEY, fieldOf(i, p), "1");
          };
          await Promise.all(Array.from({ length: p.size }, (_, w) => worker(w)));
        },
      }
      : {}),
  },
  missing: {
    pool: "pool not built yet (no connectPool in mod.ts)",
    poolSeq: "pool not built yet (no connectPool in mod.ts)",
  },
};

await main(def);
