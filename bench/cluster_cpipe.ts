/**
 * cpipe's side of the cluster benchmark (bench/cluster.ts), under Deno or Bun:
 * `deno run -A bench/cluster_cpipe.ts <port> [single]`: a cluster pool on the cluster whose node listens on
 * `port`, or with `single` a plain pool on one server (the P10k baseline).
 */
import { connectPool } from "../mod.ts";
import { connectClusterPool } from "../cluster.ts";
import { key, KEYS, measure } from "./cluster_spec.mjs";

const g = globalThis as unknown as { Deno?: { args: string[] }; process?: { argv: string[] } };
const [port, mode] = g.Deno?.args ?? g.process!.argv.slice(2);
const single = mode === "single";
const runtime = g.Deno !== undefined ? "deno" : "bun";
const client = single
  ? connectPool({ host: "127.0.0.1", port: Number(port), size: 1 })
  : await connectClusterPool([`redis://127.0.0.1:${port}`]);

await measure(`cpipe-${runtime}${single ? "-1node" : ""}`, async (w) => {
  if (w.kind === "pipe") {
    for (let i = 0; i < w.n;) {
      const p = client.pipeline();
      for (const end = i + w.batch; i < end; i++) p.hset("words", key(i % 10_000), "1");
      await p.execute();
    }
  } else if (w.kind === "pool") {
    for (let i = 0; i < w.n;) {
      const round = [];
      for (const end = i + w.batch; i < end; i++) round.push(client.hset("words", key(i % 10_000), "1"));
      await Promise.all(round);
    }
  } else if (w.kind === "get") {
    const all = [];
    for (let i = 0; i < w.n; i++) all.push(client.get(key(i % KEYS)));
    const values = await Promise.all(all);
    if (values[w.n - 1] !== "1") throw new Error("GET");
  } else {
    for (let i = 0; i < w.n;) {
      const p = client.pipeline();
      for (const end = i + w.batch; i < end; i++) p.set(key(i), "1");
      await p.execute();
    }
  }
}, single ? ["P10k"] : []);
await client.close();
