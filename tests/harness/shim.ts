/**
 * One test source for both runtimes: `test`, `afterAll` and `beforeAll` map
 * to `Deno.test` or `bun:test`. Native handles are not Deno resources, so
 * Deno's op and resource sanitizers are off; leaks are checked by the
 * memleak tests instead.
 */
type Body = () => void | Promise<void>;

interface BunTest {
  test(name: string, fn: Body, timeout?: number): void;
  afterAll(fn: Body): void;
  beforeAll(fn: Body): void;
}

interface DenoTestHooks {
  afterAll(fn: Body): void;
  beforeAll(fn: Body): void;
}

/** Which runtime runs the tests. */
export const runtime: "deno" | "bun" = typeof Deno !== "undefined" && typeof Deno.test === "function" ? "deno" : "bun";

const bun = runtime === "bun" ? await import(["bun", "test"].join(":")) as BunTest : null;

/** Bun's default per-test limit is 5 s; some tests move gigabytes. */
const TEST_TIMEOUT_MS = 600_000;

export function test(name: string, fn: Body): void {
  if (bun) bun.test(name, fn, TEST_TIMEOUT_MS);
  else Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false, sanitizeExit: false });
}

export function afterAll(fn: Body): void {
  if (bun) bun.afterAll(fn);
  else (Deno.test as unknown as DenoTestHooks).afterAll(fn);
}

export function beforeAll(fn: Body): void {
  if (bun) bun.beforeAll(fn);
  else (Deno.test as unknown as DenoTestHooks).beforeAll(fn);
}
