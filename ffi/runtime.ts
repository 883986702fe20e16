/**
 * The runtime's globals, reached without naming `Deno` or `Bun` as globals:
 * cpipe's `.ts` files are shipped as they are, and a Bun or Node project
 * type-checks them without Deno's declarations (and Deno without Bun's).
 * Each interface declares only what cpipe uses; `tests/unit/runtime.test.ts`
 * checks that Deno's own types still satisfy it.
 */

/** A Deno error class cpipe tests errors against with `instanceof`. */
export type ErrorClass = abstract new (...args: never[]) => Error;

/** The part of Deno's namespace cpipe uses. */
export interface DenoLike {
  /**
   * Deno's table type (`Deno.ForeignLibraryInterface`) cannot be named
   * without Deno's declarations, and any wider type would not fit it:
   * callers pass `ffi/symbols.ts`' table `as never`.
   */
  dlopen(path: string, symbols: never): { symbols: unknown };
  readonly build: {
    readonly os: string;
    readonly arch: string;
    /** The C library (`gnu`, `musl`) on Linux. */
    readonly env?: string;
    /** True inside an executable made by `deno compile`. */
    readonly standalone?: boolean;
  };
  readonly env: { get(name: string): string | undefined };
  readonly permissions: {
    querySync(descriptor: { name: "env"; variable: string }): { readonly state: string };
  };
  readonly errors: {
    readonly PermissionDenied: ErrorClass;
    readonly NotCapable: ErrorClass;
    readonly NotFound: ErrorClass;
  };
  readonly pid: number;
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array, options: { mode: number }): Promise<void>;
  mkdir(path: string, options: { recursive: boolean }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  stat(path: string): Promise<{ readonly isDirectory: boolean }>;
}

const global = (globalThis as { Deno?: DenoLike }).Deno;

/** Deno's namespace when running under Deno, else undefined (a partial polyfill without `dlopen` does not count). */
export const deno: DenoLike | undefined = typeof global?.dlopen === "function" ? global : undefined;

/** True under Deno. */
export const isDeno: boolean = deno !== undefined;
