// A process that uses a cluster pool or a sentinel pool and closes it (or just leaves it idle) must end by itself
// (tests/integration/cluster.test.ts, sentinel.test.ts): `exit_child.ts cluster|sentinel close|idle <port> [name]`.
import { connectClusterPool, connectSentinelPool } from "../../mod.ts";

const runtime = globalThis as unknown as { Deno?: { args: string[] }; process?: { argv: string[] } };
const [kind, mode, port, name] = runtime.Deno?.args ?? runtime.process!.argv.slice(2);
const pool = kind === "cluster"
  ? await connectClusterPool([`redis://127.0.0.1:${port}`])
  : await connectSentinelPool({ sentinels: [{ host: "127.0.0.1", port: Number(port) }], name: name! });
await pool.set("exit-child", "1");
if (mode === "close") await pool.close();
console.log("done");
