// A process that uses a cluster pool or a sentinel pool and closes it (or just leaves it idle) must end by itself
// (tests/integration/cluster.test.ts, sentinel.test.ts): `exit_child.ts cluster|sentinel close|idle <port> [name]`
// (sentinels: ports separated by commas).
// Modes `unsubscribed` and `subscribed`: shard channels, a channel and a pattern subscribed first, then each
// subscription ended (the process must end without close) or left live (close must end them).
import { connectClusterPool } from "../../cluster.ts";
import { connectSentinelPool } from "../../sentinel.ts";

const runtime = globalThis as unknown as { Deno?: { args: string[] }; process?: { argv: string[] } };
const [kind, mode, port, name] = runtime.Deno?.args ?? runtime.process!.argv.slice(2);
const pool = kind === "cluster" ? await connectClusterPool([`redis://127.0.0.1:${port}`]) : await connectSentinelPool({
  sentinels: port!.split(",").map((p) => ({ host: "127.0.0.1", port: Number(p) })),
  name: name!,
});
await pool.set("exit-child", "1");
if (mode === "subscribed" || mode === "unsubscribed") {
  const subs = await Promise.all([
    pool.ssubscribe(["exit:a", "exit:b", "exit:c", "exit:d"], () => {}),
    pool.subscribe("exit:channel", () => {}),
    pool.psubscribe("exit:*", () => {}),
  ]);
  if (mode === "unsubscribed") { for (const sub of subs) await sub.unsubscribe(); }
}
if (mode === "close" || mode === "subscribed") await pool.close();
console.log("done");
