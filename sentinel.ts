/**
 * cpipe's Redis Sentinel clients: {@linkcode connectSentinel} (synchronous) and {@linkcode connectSentinelPool}, which
 * find the master of a named set through its sentinels and follow a failover.
 *
 * A module of its own, beside `mod.ts`, so that a program without Sentinel never loads its code. Errors and the
 * single-node types come from `mod.ts` and are the same classes here.
 *
 * @example
 * ```ts
 * import { connectSentinelPool } from "jsr:@x/cpipe/sentinel";
 *
 * const pool = await connectSentinelPool({ sentinels: ["redis://10.0.0.1:26379"], name: "mymaster" });
 * await pool.set("k", "v");
 * await pool.close();
 * ```
 *
 * @module
 */
export {
  connectSentinel,
  connectSentinelPool,
  SentinelClient,
  type SentinelOptions,
  SentinelPool,
} from "./src/sentinel.ts";
