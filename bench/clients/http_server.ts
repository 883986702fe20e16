/**
 * The HTTP cache-aside service of the H workloads (bench/shapes.ts): `GET /item/:id` reads the item from Redis
 * and answers with it. H1 issues one GET per request; H2 a pipeline of five commands (GET, HGETALL, ZSCORE, INCR,
 * EXPIRE) and answers with them as JSON. Serves with `Bun.serve` under Bun, `Deno.serve` under Deno.
 *
 *     bun bench/clients/http_server.ts --client cpipe|bun-redis|node-redis --shape H1|H2 --port P --http-port Q
 *     deno run -A bench/clients/http_server.ts --client cpipe|node-redis …
 *     … --cpipe /path/to/another/checkout   # that checkout's cpipe (an A/B baseline)
 *
 * Prints `{"type":"ready","pid":…}` once it listens; stops on SIGTERM. The keys it reads are written by the driver
 * (`item:<id>`, `tags:<id>`, the sorted set `rank`); `views:<id>` is its own counter.
 */
import type * as Cpipe from "../../mod.ts";
import process from "node:process";

interface Args {
  client: string;
  shape: string;
  port: number;
  httpPort: number;
  size: number;
  /** A checkout to import cpipe from (an A/B baseline); this one's by default. */
  cpipe: string;
}

function parse(argv: string[]): Args {
  const a: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) a[argv[i]!.replace(/^--/, "")] = argv[i + 1] ?? "";
  return {
    client: a.client ?? "cpipe",
    shape: a.shape ?? "H1",
    port: Number(a.port),
    httpPort: Number(a["http-port"]),
    size: Number(a.size ?? 1),
    cpipe: a.cpipe ?? "",
  };
}

/** Answers one request's Redis part: the body, or null when the item is missing. */
type Handler = (id: string) => Promise<string | null>;

interface BunRedisClient {
  connect(): Promise<void>;
  get(key: string): Promise<string | null>;
  hgetall(key: string): Promise<Record<string, string>>;
  zscore(key: string, member: string): Promise<number | null>;
  incr(key: string): Promise<number>;
  expire(key: string, seconds: number): Promise<number>;
}
interface BunGlobal {
  RedisClient: new (url: string) => BunRedisClient;
  serve(options: { port: number; hostname: string; fetch(req: Request): Response | Promise<Response> }): unknown;
}
const Bun = (globalThis as unknown as { Bun?: BunGlobal }).Bun;

function five(item: unknown, tags: unknown, score: unknown, views: unknown): string | null {
  return item === null ? null : JSON.stringify({ item, tags, score, views });
}

async function handler(args: Args): Promise<Handler> {
  const h2 = args.shape === "H2";
  if (args.client === "cpipe") {
    const cpipe: typeof Cpipe = await import(args.cpipe ? `${args.cpipe}/mod.ts` : "../../mod.ts");
    const pool = cpipe.connectPool({ host: "127.0.0.1", port: args.port, size: args.size });
    if (h2) {
      return async (id) => {
        const [item, tags, score, views] = await pool.pipeline().get(`item:${id}`).hgetall(`tags:${id}`)
          .zscore("rank", id).incr(`views:${id}`).expire(`views:${id}`, 600).execute();
        return five(item, tags, score, views);
      };
    }
    return (id) => pool.get(`item:${id}`);
  }
  if (args.client === "bun-redis") {
    if (!Bun) throw new Error("bun-redis runs under Bun");
    const r = new Bun.RedisClient(`redis://127.0.0.1:${args.port}`);
    await r.connect();
    if (h2) {
      // Bun's client pipelines the commands issued in one tick on its one connection.
      return async (id) => {
        const views = `views:${id}`;
        const [item, tags, score, count] = await Promise.all([
          r.get(`item:${id}`),
          r.hgetall(`tags:${id}`),
          r.zscore("rank", id),
          r.incr(views),
          r.expire(views, 600),
        ]);
        return five(item, tags, score, count);
      };
    }
    return (id) => r.get(`item:${id}`);
  }
  if (args.client === "node-redis") {
    const { createClient } = await import("redis");
    const r = createClient({ url: `redis://127.0.0.1:${args.port}` });
    await r.connect();
    if (h2) {
      return async (id) => {
        const views = `views:${id}`;
        const [item, tags, score, count] = await r.multi().get(`item:${id}`).hGetAll(`tags:${id}`)
          .zScore("rank", id).incr(views).expire(views, 600).execAsPipeline();
        return five(item, tags, score, count);
      };
    }
    return (id) => r.get(`item:${id}`) as Promise<string | null>;
  }
  if (args.client === "none") {
    // The floor: the same service answering from memory, with no Redis client at all.
    const items = new Map<string, string>();
    for (let i = 0; i < 1000; i++) items.set(String(i), "v".repeat(100));
    return (id) => Promise.resolve(items.get(id) ?? null);
  }
  throw new Error(`unknown client ${args.client}`);
}

const args = parse(process.argv.slice(2));
const get = await handler(args);
const PREFIX = "/item/";
const NOT_FOUND = { status: 404 };

async function fetch(req: Request): Promise<Response> {
  const url = req.url, at = url.indexOf(PREFIX);
  if (at < 0) return new Response("no such route", NOT_FOUND);
  const body = await get(url.slice(at + PREFIX.length));
  // Cache-aside: a miss would be filled from the database; the driver pre-fills every item, so a miss is a defect.
  return body === null ? new Response("missing", NOT_FOUND) : new Response(body);
}

if (Bun) Bun.serve({ port: args.httpPort, hostname: "127.0.0.1", fetch });
else Deno.serve({ port: args.httpPort, hostname: "127.0.0.1", onListen() {} }, fetch);
process.on("SIGTERM", () => process.exit(0));
console.log(JSON.stringify({ type: "ready", pid: process.pid }));
