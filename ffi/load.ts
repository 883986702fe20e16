/**
 * Finds and opens the native library for the running runtime and platform.
 *
 * Order:
 * 1. `CPIPE_LIB`, a path to a built library;
 * 2. when this file was loaded from disk (a checkout built with `make`, or an
 *    installed npm package), `ffi/lib/<target>/<file>` beside it;
 * 3. when it was loaded from a URL (as from JSR), that same file fetched from
 *    beside this module, checked against the sha256 that `make` recorded in
 *    `ffi/lib/checksums.json`, and kept under the user's cache directory at
 *    `cpipe/<version>/<target>/<file>`, so that a second start needs no
 *    network (the cached copy is checked again on every start).
 *
 * Permission errors (Deno without `--allow-ffi`, `--allow-net`…) are thrown
 * as they are; every other failure becomes a `CpipeError` saying what to do.
 */
import { ABI_VERSION } from "./abi.ts";
import { type Native, symbols } from "./symbols.ts";
import { CpipeError } from "../src/errors.ts";

/** Targets a library can be built for, named as zig names them. */
export const SUPPORTED_TARGETS = [
  "x86_64-linux-gnu",
  "aarch64-linux-gnu",
  "x86_64-linux-musl",
  "x86_64-macos",
  "aarch64-macos",
  "x86_64-windows-gnu",
] as const;

interface Platform {
  os: "linux" | "macos" | "windows" | string;
  arch: "x86_64" | "aarch64" | string;
  abi: "gnu" | "musl";
}

interface BunFFI {
  dlopen(path: string, symbols: Record<string, { args: string[]; returns: string }>): {
    symbols: Record<string, unknown>;
  };
}

interface BunProcess {
  platform: string;
  arch: string;
  pid: number;
  env: Record<string, string | undefined>;
  report?: { getReport(): { header?: { glibcVersionRuntime?: string } } };
}

/** What the loader needs of `node:fs/promises` outside Deno. */
interface NodeFS {
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
  mkdir(path: string, options: { recursive: boolean }): Promise<unknown>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string, options: { force: boolean }): Promise<void>;
}

/** `ffi/lib/checksums.json`, written by `make` and `make cross`. */
interface Checksums {
  version: string;
  /** sha256 (hex) of each library, by `<target>/<file>`. */
  files: Record<string, string>;
}

const isDeno = typeof Deno !== "undefined" && typeof Deno.dlopen === "function";

function bunProcess(): BunProcess {
  return (globalThis as unknown as { process: BunProcess }).process;
}

function platform(): Platform {
  if (isDeno) {
    const build = Deno.build as typeof Deno.build & { env?: string };
    return {
      os: build.os === "darwin" ? "macos" : build.os,
      arch: build.arch,
      abi: build.env === "musl" ? "musl" : "gnu",
    };
  }
  const proc = bunProcess();
  const glibc = proc.report?.getReport().header?.glibcVersionRuntime;
  return {
    os: proc.platform === "darwin" ? "macos" : proc.platform === "win32" ? "windows" : proc.platform,
    arch: proc.arch === "x64" ? "x86_64" : proc.arch === "arm64" ? "aarch64" : proc.arch,
    abi: proc.platform === "linux" && glibc === undefined ? "musl" : "gnu",
  };
}

/** The zig-style target of this machine, e.g. `x86_64-linux-gnu`. */
export function hostTarget(p: Platform = platform()): string {
  if (p.os === "linux") return `${p.arch}-linux-${p.abi}`;
  if (p.os === "windows") return `${p.arch}-windows-gnu`;
  return `${p.arch}-${p.os}`;
}

/** Throws a `CpipeError` listing the supported targets when `target` is not one of them. */
export function assertSupported(target: string): void {
  if (!(SUPPORTED_TARGETS as readonly string[]).includes(target)) {
    throw new CpipeError(`cpipe: no native library for ${target}; supported: ${SUPPORTED_TARGETS.join(", ")}`);
  }
}

/** The library's file name on an OS. */
export function libraryFile(os: string): string {
  return os === "windows" ? "cpipe.dll" : os === "macos" ? "libcpipe.dylib" : "libcpipe.so";
}

function isPermissionError(e: unknown): boolean {
  return isDeno && (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable);
}

function isNotFound(e: unknown): boolean {
  if (isDeno && e instanceof Deno.errors.NotFound) return true;
  return (e as { code?: unknown } | null)?.code === "ENOENT";
}

function envOverride(): string | undefined {
  if (isDeno) {
    const status = Deno.permissions.querySync({ name: "env", variable: "CPIPE_LIB" });
    return status.state === "granted" ? Deno.env.get("CPIPE_LIB") : undefined;
  }
  return bunProcess().env.CPIPE_LIB;
}

/** An environment variable; in Deno, asks for (or fails without) `--allow-env`. */
function env(name: string): string | undefined {
  const value = isDeno ? Deno.env.get(name) : bunProcess().env[name];
  return value === "" ? undefined : value;
}

function filePath(url: URL, os: string): string {
  const path = decodeURIComponent(url.pathname);
  return os === "windows" ? path.replace(/^\/([A-Za-z]:)/, "$1").replaceAll("/", "\\") : path;
}

// ---- files, in either runtime ---------------------------------------------

let nodeFS: NodeFS | null = null;
async function fs(): Promise<NodeFS> {
  nodeFS ??= await import("node:fs/promises") as NodeFS;
  return nodeFS;
}

/** The file's bytes, or null when there is no such file. */
async function readIfExists(path: string): Promise<Uint8Array | null> {
  try {
    return isDeno ? await Deno.readFile(path) : new Uint8Array(await (await fs()).readFile(path));
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

/** Writes through a temporary file and a rename, so a reader never sees half a library. */
async function writeAtomically(dir: string, path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${isDeno ? Deno.pid : bunProcess().pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  if (isDeno) {
    await Deno.mkdir(dir, { recursive: true });
    try {
      await Deno.writeFile(tmp, bytes, { mode: 0o755 });
      await Deno.rename(tmp, path);
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
    return;
  }
  const nfs = await fs();
  await nfs.mkdir(dir, { recursive: true });
  try {
    await nfs.writeFile(tmp, bytes);
    await nfs.rename(tmp, path);
  } finally {
    await nfs.rm(tmp, { force: true }).catch(() => {});
  }
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- the library shipped beside a remote module -----------------------------

/** Where downloaded libraries are kept: the OS's per-user cache directory. */
function cacheRoot(p: Platform): string {
  if (p.os === "windows") {
    const local = env("LOCALAPPDATA") ?? (env("USERPROFILE") && `${env("USERPROFILE")}\\AppData\\Local`);
    if (local) return local;
  } else if (p.os === "macos") {
    const home = env("HOME");
    if (home) return `${home}/Library/Caches`;
  } else {
    const xdg = env("XDG_CACHE_HOME");
    if (xdg?.startsWith("/")) return xdg;
    const home = env("HOME");
    if (home) return `${home}/.cache`;
  }
  throw new CpipeError(
    "cpipe: cannot tell where to cache the native library: set HOME (XDG_CACHE_HOME on Linux, LOCALAPPDATA on Windows)",
  );
}

async function loadChecksums(): Promise<Checksums> {
  const url = new URL("./lib/checksums.json", import.meta.url);
  try {
    return (await import("./lib/checksums.json", { with: { type: "json" } })).default as Checksums;
  } catch (e) {
    if (isPermissionError(e)) throw e;
    throw new CpipeError(`cpipe: cannot read the library checksums at ${url}: ${message(e)}`, { cause: e });
  }
}

async function fetchBytes(url: URL): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    if (isPermissionError(e)) throw e;
    throw new CpipeError(`cpipe: cannot download the native library from ${url}: ${message(e)}`, { cause: e });
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new CpipeError(`cpipe: cannot download the native library from ${url}: HTTP ${response.status}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

/** The path of a verified copy of the library for `p`, downloading it if needed. */
async function remoteLibrary(p: Platform): Promise<string> {
  const target = hostTarget(p);
  const file = libraryFile(p.os);
  const checksums = await loadChecksums();
  const expected = checksums.files[`${target}/${file}`];
  if (!expected) {
    const shipped = Object.keys(checksums.files).map((f) => f.split("/")[0]).join(", ") || "none";
    throw new CpipeError(
      `cpipe ${checksums.version}: this package ships no native library for ${target} (it has: ${shipped}); ` +
        "set CPIPE_LIB to a library built with `make`",
    );
  }
  const sep = p.os === "windows" ? "\\" : "/";
  const dir = [cacheRoot(p), "cpipe", checksums.version, target].join(sep);
  const path = `${dir}${sep}${file}`;

  const cached = await readIfExists(path);
  if (cached && await sha256(cached) === expected) return path;

  const url = new URL(`./lib/${target}/${file}`, import.meta.url);
  const bytes = await fetchBytes(url);
  const actual = await sha256(bytes);
  if (actual !== expected) {
    throw new CpipeError(
      `cpipe: refusing the native library downloaded from ${url}: its sha256 is ${actual}, ` +
        `but cpipe ${checksums.version} was built with ${expected}`,
    );
  }
  await writeAtomically(dir, path, bytes);
  return path;
}

// ---- opening ----------------------------------------------------------------

async function libraryPath(): Promise<string> {
  const override = envOverride();
  if (override) return override;
  const p = platform();
  const target = hostTarget(p);
  assertSupported(target);
  const url = new URL(`./lib/${target}/${libraryFile(p.os)}`, import.meta.url);
  if (url.protocol === "file:") return filePath(url, p.os);
  if (url.protocol === "https:" || url.protocol === "http:") return await remoteLibrary(p);
  throw new CpipeError(`cpipe: cannot load the native library from a ${url.protocol} URL; set CPIPE_LIB`);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function openError(path: string, cause: unknown): CpipeError {
  return new CpipeError(
    `cpipe: cannot load the native library ${path}: ${message(cause)}. ` +
      "Build it with `make` in the cpipe checkout, or point CPIPE_LIB at a built library.",
    { cause },
  );
}

function openDeno(path: string): Native {
  try {
    return Deno.dlopen(path, symbols).symbols as unknown as Native;
  } catch (e) {
    if (isPermissionError(e)) throw e;
    throw openError(path, e);
  }
}

const BUN_TYPES: Record<string, string> = {
  buffer: "buffer",
  pointer: "ptr",
  i32: "i32",
  i64: "i64_fast",
  void: "void",
};

async function openBun(path: string): Promise<Native> {
  const ffi = await import(["bun", "ffi"].join(":")) as BunFFI;
  const table: Record<string, { args: string[]; returns: string }> = {};
  for (const [name, def] of Object.entries(symbols)) {
    table[name] = {
      args: (def.parameters as readonly string[]).map((t) => BUN_TYPES[t]),
      returns: BUN_TYPES[def.result],
    };
  }
  try {
    return ffi.dlopen(path, table).symbols as unknown as Native;
  } catch (e) {
    throw openError(path, e);
  }
}

async function open(): Promise<Native> {
  const path = await libraryPath();
  const native = isDeno ? openDeno(path) : await openBun(path);
  const abi = native.cpipe_abi_version();
  if (abi !== ABI_VERSION) {
    throw new CpipeError(`cpipe: ${path} has ABI ${abi}, this code needs ${ABI_VERSION}; rebuild it with \`make\``);
  }
  return native;
}

/** The opened library, shared by every client in the process. */
export const native: Native = await open();
