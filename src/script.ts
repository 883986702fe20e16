/**
 * Lua scripts defined once and run by their SHA-1 (EVALSHA): the server
 * loads a script the first time a target runs it (SCRIPT LOAD gives the
 * SHA-1), and again after NOSCRIPT (a restarted or flushed server).
 * Pipelines queue EVAL with the script's text, which needs no round trip
 * before the pipeline and cannot meet NOSCRIPT halfway through it.
 */
import { Client } from "./client.ts";
import { ReplyError } from "./errors.ts";
import { Pipeline } from "./pipeline.ts";
import { Pool } from "./pool.ts";
import { PoolConnection } from "./pool_connection.ts";
import { PoolPipeline } from "./pool_pipeline.ts";
import type { Arg, Reply } from "./types.ts";

/** A script from {@linkcode defineScript}: call it with a target, its keys and its arguments. */
export interface Script {
  /** On the synchronous client: the script's reply. */
  (target: Client, keys?: readonly Arg[], args?: readonly Arg[]): Reply;
  /** On a pool or an acquired connection: a promise of the reply. */
  (target: Pool | PoolConnection, keys?: readonly Arg[], args?: readonly Arg[]): Promise<Reply>;
  /** In a pipeline: queued (as EVAL); the reply comes with `execute()`. */
  <P extends Pipeline | PoolPipeline>(target: P, keys?: readonly Arg[], args?: readonly Arg[]): P;
  /** The script's Lua text. */
  readonly lua: string;
}

function isNoScript(e: unknown): boolean {
  return e instanceof ReplyError && e.code === "NOSCRIPT";
}

/**
 * Defines a Lua script once, at module level, to run on any client, pool,
 * acquired connection or pipeline.
 *
 * @example
 * ```ts
 * const incrBy = cpipe.defineScript("return redis.call('INCRBY', KEYS[1], ARGV[1])");
 * incrBy(r, ["counter"], [5]); // 5, on the synchronous client
 * await incrBy(pool, ["counter"], [5]); // 10
 * ```
 */
export function defineScript(lua: string): Script {
  if (typeof lua !== "string" || lua.length === 0) throw new TypeError("cpipe: a script is a non-empty string of Lua");
  /** The SHA-1 the server gave, once it has loaded the script. */
  let sha: string | null = null;
  const evalArgs = (keys: readonly Arg[], args: readonly Arg[]): Arg[] => [keys.length, ...keys, ...args];

  function run(target: unknown, keys: readonly Arg[] = [], args: readonly Arg[] = []): unknown {
    if (!Array.isArray(keys) || !Array.isArray(args)) throw new TypeError("cpipe: a script's keys and args are arrays");
    if (target instanceof Pipeline || target instanceof PoolPipeline) {
      return target.addCommand("EVAL", lua, ...evalArgs(keys, args));
    }
    if (target instanceof Client) {
      if (sha === null) sha = target.send<string>("SCRIPT", "LOAD", lua);
      try {
        return target.send("EVALSHA", sha, ...evalArgs(keys, args));
      } catch (e) {
        if (!isNoScript(e)) throw e;
        sha = target.send<string>("SCRIPT", "LOAD", lua);
        return target.send("EVALSHA", sha, ...evalArgs(keys, args));
      }
    }
    if (target instanceof Pool || target instanceof PoolConnection) {
      return (async () => {
        sha ??= await target.send<string>("SCRIPT", "LOAD", lua);
        try {
          return await target.send("EVALSHA", sha, ...evalArgs(keys, args));
        } catch (e) {
          if (!isNoScript(e)) throw e;
          sha = await target.send<string>("SCRIPT", "LOAD", lua);
          return await target.send("EVALSHA", sha, ...evalArgs(keys, args));
        }
      })();
    }
    throw new TypeError("cpipe: a script runs on a Client, a Pool, an acquired connection or a pipeline");
  }
  return Object.assign(run, { lua }) as Script;
}
