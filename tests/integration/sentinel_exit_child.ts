// A process that uses a sentinel pool and closes it must end by itself (tests/integration/sentinel.test.ts).
import { connectSentinelPool } from "../../mod.ts";

const runtime = globalThis as unknown as { Deno?: { args: string[] }; process?: { argv: string[] } };
const [name, port] = runtime.Deno?.args ?? runtime.process!.argv.slice(2);
const pool = await connectSentinelPool({ sentinels: [{ host: "127.0.0.1", port: Number(port) }], name: name! });
await pool.set("exit-child", "1");
await pool.close();
console.log("done");
