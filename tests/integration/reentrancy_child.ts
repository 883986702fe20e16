// A process whose pool's message listener calls the pool (a burst, a pipeline, its own unsubscribe, then
// acquire/release) must end by itself once they settled (tests/integration/reentrancy.test.ts): the calls a listener
// makes are counted in flight and let go. `reentrancy_child.ts <port> idle|close` (close: the listener closes the pool instead).
import { connect, connectPool } from "../../mod.ts";

const runtime = globalThis as unknown as { Deno?: { args: string[] }; process?: { argv: string[] } };
const [port, mode] = runtime.Deno?.args ?? runtime.process!.argv.slice(2);
const pool = connectPool({ host: "127.0.0.1", port: Number(port), size: 2 });
let settled: Promise<unknown> | undefined;
const sub = await pool.subscribe("reent:child", () => {
  if (settled !== undefined) return;
  settled = Promise.all([
    Promise.all(Array.from({ length: 5_000 }, (_, i) => pool.echo(String(i)))),
    pool.pipeline().set("reent:child", "1").get("reent:child").execute(),
    sub.unsubscribe(),
    // The lease's ping is issued after the acquire resolves: after a close(), it would be refused.
    mode === "close" ? pool.close() : pool.acquire().then((lease) => lease.ping().finally(() => lease.release())),
  ]);
});
using publisher = connect("127.0.0.1", Number(port));
publisher.publish("reent:child", "go");
while (settled === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
await settled;
console.log("done");
