/**
 * cpipe — a fast Redis client for Deno and Bun, with a native core on hiredis.
 *
 * @example
 * ```ts
 * import * as cpipe from "jsr:@x/cpipe";
 *
 * const r = cpipe.connect("localhost", 6379);
 * r.hset("hashmap", "key", "value");
 * r.hget("hashmap", "key"); // "value"
 *
 * for (let i = 0; i < 10_000; i++) r.addCommand("hset", "words", `word|${i}`, "1");
 * r.execute(); // one round trip, 10,000 replies
 * r.close();
 * ```
 *
 * Redis Cluster and Sentinel have entries of their own, `jsr:@x/cpipe/cluster` and `jsr:@x/cpipe/sentinel`
 * (`@x/cpipe/cluster`, `@x/cpipe/sentinel` from npm), so that a program on one node does not load their code.
 *
 * @module
 */
export { Client } from "./src/client.ts";
export { Pipeline } from "./src/pipeline.ts";
export { Pool } from "./src/pool.ts";
export { defineScript, type Script } from "./src/script.ts";
export { PoolPipeline } from "./src/pool_pipeline.ts";
export { PoolConnection } from "./src/pool_connection.ts";
export { QueueFullError } from "./src/pool_core.ts";
export { connectPool, defaultPool, phget, phset, psend } from "./src/default_pool.ts";
export { addCommand, connect, defaultClient, del, execute, get, hget, hset, send, set } from "./src/default_client.ts";
export { ClosedError, ConnectionError, CpipeError, ProtocolError, ReplyError, TimeoutError } from "./src/errors.ts";
export type {
  Added,
  ClientQueue,
  Commands,
  Executed,
  FieldValues,
  Kind,
  Out,
  Pipelines,
  PoolQueue,
  Queue,
  Queued,
  RawExecuted,
  RawReplies,
  Replies,
  Result,
  SetOptions,
  SetToken,
  SetTokenName,
  Shapes,
  Slots,
  ZRangeOptions,
} from "./src/commands.ts";
export type { Double, RespMap, ScoredMember, Transform } from "./src/replies.ts";
export type { CommandMethods } from "./src/command_methods.ts";
export type {
  DeletedEntry,
  StreamEntry,
  StreamIds,
  StreamInfo,
  StreamRead,
  XAddOptions,
  XAutoClaimOptions,
  XAutoClaimResult,
  XPendingEntry,
  XPendingOptions,
  XPendingSummary,
  XReadGroupOptions,
  XReadOptions,
} from "./src/streams.ts";
export type { Arg, Reply } from "./src/types.ts";
export { maskUrl, parseRedisUrl } from "./src/options.ts";
export type { Address } from "./src/url.ts";
export type {
  AddressOptions,
  ClientOptions,
  ConnectOptions,
  PoolOptions,
  RedisUrl,
  TlsOptions,
} from "./src/options.ts";
export type { ConnectionEvents, Listener } from "./src/events.ts";
export type { FieldValue, ScanOptions } from "./src/scan.ts";
export { Subscription } from "./src/pubsub.ts";
export type { SubscribingCommands, Subscriptions } from "./src/subscribing.ts";
export type { CacheStats, ClientCacheOptions } from "./src/client_cache.ts";
export type { Message, MessageListener, SubscribeOptions, SubscriptionKind } from "./src/pubsub.ts";
