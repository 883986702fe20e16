/**
 * Type-level tests of pipelines: checked by `deno check` (`make lint`), never
 * run (no file here is named *.test.ts). Each `expect<Equal<…>>()` fails to
 * compile when the type differs; each `@ts-expect-error` fails when the line
 * after it compiles.
 */
import type { Client, Pipeline, Pool, PoolPipeline, Reply, ReplyError, ScoredMember } from "../../mod.ts";

/** True when A and B are the same type (not merely assignable either way). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function expect<_ extends true>(): void {}

declare const r: Client;
declare const pool: Pool;

export function clientPipelines(): void {
  // A chain's tuple: one slot per command, each its result or the ReplyError in its place.
  const replies = r.pipeline().set("a", "1").incr("a").get("a").execute();
  expect<Equal<typeof replies, [string | null | ReplyError, number | ReplyError, string | null | ReplyError]>>();
  const [ok, n, v] = replies;
  if (!(n instanceof Error)) {
    const next: number = n + 1;
    void next;
  }
  // @ts-expect-error: a slot may hold the ReplyError the server answered
  const plain: number = n;
  // @ts-expect-error: three commands, three slots
  void replies[3];
  void [ok, v, plain];

  // addCommand adds a Reply; typed methods of every shape keep theirs.
  const mixed = r.pipeline().addCommand("ECHO", "x").hgetall("h").zrangeWithScores("z", 0, -1).getBuffer("k")
    .lpop("l", 2).execute();
  expect<
    Equal<typeof mixed, [
      Reply,
      Record<string, string> | ReplyError,
      ScoredMember[] | ReplyError,
      Uint8Array | null | ReplyError,
      string[] | null | ReplyError,
    ]>
  >();

  // Inside MULTI a command answers "QUEUED"; its result comes in EXEC's array (null when a WATCHed key changed).
  const tx = r.pipeline().addCommand("MULTI").hgetall("h").incr("n").addCommand("EXEC").execute();
  type Exec = [Record<string, string> | ReplyError, number | ReplyError] | null | ReplyError;
  expect<Equal<typeof tx, ["OK" | ReplyError, "QUEUED" | ReplyError, "QUEUED" | ReplyError, Exec]>>();
  // Names are case-insensitive; DISCARD forgets the queued results.
  const discarded = r.pipeline().addCommand("multi").incr("n").addCommand("discard").get("a").execute();
  expect<
    Equal<typeof discarded, ["OK" | ReplyError, "QUEUED" | ReplyError, "OK" | ReplyError, string | null | ReplyError]>
  >();

  // multi() … exec(): the transaction's results alone, or null when a WATCHed key changed.
  const results = r.multi().hgetall("h").incr("n").exec();
  expect<Equal<typeof results, [Record<string, string> | ReplyError, number | ReplyError] | null>>();
  expect<Equal<ReturnType<ReturnType<Client["multi"]>["execBuffer"]>, Reply[] | null>>();
  const rawResults = r.multi().get("a").execBuffer();
  expect<Equal<typeof rawResults, [Reply] | null>>();
  // exec() with no MULTI open does not compile (ioredis' pipeline().exec() is execute() here).
  // @ts-expect-error: no MULTI open
  r.pipeline().get("a").exec();
  // @ts-expect-error: EXEC closed the transaction
  r.multi().get("a").addCommand("EXEC").execBuffer();

  // executeBuffer: raw replies, one per command.
  const raw = r.pipeline().get("a").hgetall("h").executeBuffer();
  expect<Equal<typeof raw, [Reply, Reply]>>();

  // A pipeline built in a loop keeps its first type: its replies are Reply[].
  const p = r.pipeline();
  for (let i = 0; i < 3; i++) p.incr("n");
  expect<Equal<ReturnType<typeof p.execute>, Reply[]>>();
  expect<Equal<typeof p, Pipeline>>();

  // The client itself is unchanged: values, not pipelines.
  expect<Equal<ReturnType<typeof r.incr>, number>>();
  expect<Equal<ReturnType<Client["get"]>, string | null>>();
  expect<Equal<ReturnType<typeof r.execute>, Reply[]>>();
}

export async function poolPipelines(): Promise<void> {
  const [ok, n, v] = await pool.pipeline().set("a", "1").incr("a").get("a").execute();
  expect<Equal<typeof ok, string | null | ReplyError>>();
  expect<Equal<typeof n, number | ReplyError>>();
  expect<Equal<typeof v, string | null | ReplyError>>();

  const tx = await pool.pipeline().addCommand("MULTI").hgetall("h").addCommand("EXEC").execute();
  expect<Equal<typeof tx[2], [Record<string, string> | ReplyError] | null | ReplyError>>();

  const results = await pool.multi().hgetall("h").exec();
  expect<Equal<typeof results, [Record<string, string> | ReplyError] | null>>();
  const c = await pool.acquire();
  // @ts-expect-error: no MULTI open
  await pool.pipeline().get("a").exec();
  const leased = await c.multi().incr("n").exec();
  expect<Equal<typeof leased, [number | ReplyError] | null>>();

  const raw = await pool.pipeline().get("a").executeBuffer();
  expect<Equal<typeof raw, [Reply]>>();
  expect<Equal<ReturnType<Pool["pipeline"]>, PoolPipeline>>();

  // The pool itself is unchanged: promises of values.
  expect<Equal<ReturnType<typeof pool.incr>, Promise<number>>>();
  // @ts-expect-error: a pool's pipeline returns a promise
  const [notAwaited] = pool.pipeline().incr("n").execute();
  void notAwaited;
}

export function setForms(): void {
  r.set("k", "v", { ex: 10, nx: true });
  r.set("k", "v", "EX", 10, "NX");
  r.set("k", "v", "px", 10);
  r.mset(["a", "1", "b", "2"]);
  r.hset("h", ["f", "v"]);
  // @ts-expect-error: not an option of SET
  r.set("k", "v", "EXPIRE", 10);
  // @ts-expect-error: misspelt option name
  r.set("k", "v", { EX: 10 });
  // @ts-expect-error: pairs go flat, not nested
  r.hset("h", [["f", "v"]]);
}

export function generatedMethods(): void {
  // Generated methods (src/command_methods.ts): reply types from the schemas, in tuples and promises alike.
  const replies = r.pipeline().hsetnx("h", "f", "1").strlen("k").getrangeBuffer("k", 0, -1).execute();
  expect<Equal<typeof replies, [0 | 1 | ReplyError, number | ReplyError, Uint8Array | ReplyError]>>();
  const id: number = r.clientId();
  const popped: Promise<[string, string] | null> = pool.blpop("list", 0);
  const [withScore] = r.pipeline().zincrby("z", 1, "m").execute();
  expect<Equal<typeof withScore, string | number | ReplyError>>();
  // @ts-expect-error: PEXPIRE's condition is one of its tokens
  r.pexpire("k", 100, "SOON");
  r.pexpire("k", 100, "NX");
  // @ts-expect-error: GETRANGE takes a key, a start and an end
  r.getrange("k", 0);
  // Streams are shaped as objects.
  const entries = r.xrange("s");
  expect<Equal<typeof entries, { id: string; fields: Record<string, string> }[]>>();
  void [id, popped];
}
