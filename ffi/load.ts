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
 *    network (the cached copy is checked again on every start);
 * 4. inside a single-file executable, the library embedded in it, copied out
 *    to that same cache directory and checked the same way: Bun embeds the
 *    files `ffi/lib/embedded.js` imports when the package is imported through
 *    `ffi/bun.ts` or its bundle (`bun build --compile`); `deno compile --unstable-raw-imports`
 *    embeds those `ffi/lib/embedded_deno.js` imports as bytes (or, without
 *    that flag, the files given to `--include`).
 *
 * Permission errors (Deno without `--allow-ffi`, `--allow-net`…) are thrown
 * as they are; every other failure becomes a `CpipeError` saying what to do.
 */
import { ABI_VERSION } from "./abi.ts";
import { type Native, symbols } from "./symbols.ts";
import { CpipeError } from "./error.ts";
import { deno, type DenoLike } from "./runtime.ts";
import { embeddedBytes, embeddedLibraries } from "./embedded.ts";

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
  stat(path: string): Promise<{ isDirectory(): boolean }>;
}

/** `ffi/lib/checksums.json`, written by `make` and `make cross`. */
interface Checksums {
  version: string;
  /** sha256 (hex) of each library, by `<target>/<file>`. */
  files: Record<string, string>;
}

function bunProcess(): BunProcess {
  return (globalThis as unknown as { process: BunProcess }).process;
}

function platform(): Platform {
  if (deno) {
    const build = deno.build;
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
  return deno !== undefined && (e instanceof deno.errors.PermissionDenied || e instanceof deno.errors.NotCapable);
}

function isNotFound(e: unknown): boolean {
  if (deno && e instanceof deno.errors.NotFound) return true;
  return (e as { code?: unknown } | null)?.code === "ENOENT";
}

function envOverride(): string | undefined {
  if (deno) {
    const status = deno.permissions.querySync({ name: "env", variable: "CPIPE_LIB" });
    return status.state === "granted" ? deno.env.get("CPIPE_LIB") : undefined;
  }
  return bunProcess().env.CPIPE_LIB;
}

/** An environment variable; in Deno, asks for (or fails without) `--allow-env`. */
function env(name: string): string | undefined {
  const value = deno ? deno.env.get(name) : bunProcess().env[name];
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

/** The file's bytes; throws when it cannot be read. */
async function readBytes(path: string): Promise<Uint8Array> {
  return deno ? await deno.readFile(path) : new Uint8Array(await (await fs()).readFile(path));
}

/** The file's bytes, or null when there is no such file. */
async function readIfExists(path: string): Promise<Uint8Array | null> {
  try {
    return await readBytes(path);
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

/** Whether `path` is a directory; undefined when that cannot be told (Deno without `--allow-read`). */
async function isDirectory(path: string): Promise<boolean | undefined> {
  try {
    return deno ? (await deno.stat(path)).isDirectory : (await (await fs()).stat(path)).isDirectory();
  } catch (e) {
    return isPermissionError(e) ? undefined : false;
  }
}

/** Writes through a temporary file and a rename, so a reader never sees half a library. */
async function writeAtomically(dir: string, path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${deno ? deno.pid : bunProcess().pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  if (deno) {
    await deno.mkdir(dir, { recursive: true });
    try {
      await deno.writeFile(tmp, bytes, { mode: 0o755 });
      await deno.rename(tmp, path);
    } finally {
      await deno.remove(tmp).catch(() => {});
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

// ---- a library copied to the cache: from a URL or out of an executable ------

/** Where copied libraries are kept: the OS's per-user cache directory. */
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

let checksumsLoaded: Checksums | null = null;
async function loadChecksums(): Promise<Checksums> {
  if (checksumsLoaded) return checksumsLoaded;
  const url = new URL("./lib/checksums.json", import.meta.url);
  try {
    // Deno imports JSON only with this attribute, but a user's tsc may reject the line: TS1324 (a second
    // import() argument) where "module" is below esnext, TS2732 where resolveJsonModule is off. The
    // result is cast anyway. (@ts-expect-error would fail in the projects where the line is fine.)
    // @ts-ignore: see above
    checksumsLoaded = (await import("./lib/checksums.json", { with: { type: "json" } })).default as Checksums;
    return checksumsLoaded;
  } catch (e) {
    if (isPermissionError(e)) throw e;
    throw new CpipeError(`cpipe: cannot read the library checksums at ${url}: ${message(e)}`, { cause: e });
  }
}

/** The targets the package ships a library for, e.g. `x86_64-linux-gnu, aarch64-macos`. */
function shippedTargets(checksums: Checksums): string {
  return Object.keys(checksums.files).map((f) => f.split("/")[0]).join(", ") || "none";
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

/**
 * The path of a verified copy of the library for `p` in the cache directory,
 * made from `bytes()` (`source` says whence) when there is none yet. The copy
 * is checked against `ffi/lib/checksums.json` on every start.
 */
async function cachedLibrary(p: Platform, source: string, bytes: () => Promise<Uint8Array>): Promise<string> {
  const target = hostTarget(p);
  const file = libraryFile(p.os);
  const checksums = await loadChecksums();
  const expected = checksums.files[`${target}/${file}`];
  if (!expected) {
    throw new CpipeError(
      `cpipe ${checksums.version}: this package ships no native library for ${target} ` +
        `(it has: ${shippedTargets(checksums)}); set CPIPE_LIB to a library built from a cpipe checkout with \`make\``,
    );
  }
  const sep = p.os === "windows" ? "\\" : "/";
  const dir = [cacheRoot(p), "cpipe", checksums.version, target].join(sep);
  const path = `${dir}${sep}${file}`;

  const cached = await readIfExists(path);
  if (cached && await sha256(cached) === expected) return path;

  const fresh = await bytes();
  const actual = await sha256(fresh);
  if (actual !== expected) {
    throw new CpipeError(
      `cpipe: refusing the native library ${source}: its sha256 is ${actual}, ` +
        `but cpipe ${checksums.version} was built with ${expected}`,
    );
  }
  await writeAtomically(dir, path, fresh);
  return path;
}

// ---- a library inside an executable or a bundle -----------------------------

/**
 * A path inside a Bun executable's own file system: readable, but not by the
 * OS's dynamic loader (Bun's own `dlopen` would copy it to a new temporary
 * file on every start; the cache keeps one verified copy).
 */
function inBunExecutable(path: string): boolean {
  return /^\/\$bunfs\/|^[A-Za-z]:[\\/]~BUN[\\/]/.test(path);
}

/**
 * The library as Bun's bundler placed it, when it did (see ffi/embedded.ts):
 * `bun build --compile` embeds it in the executable, `bun build` copies it
 * beside the bundle. Undefined when nothing was recorded for `key`.
 */
async function bunEmbedded(key: string, p: Platform): Promise<string | undefined> {
  const path = embeddedLibraries.get(key);
  if (path === undefined) return undefined;
  // `bun build --outdir` names assets relative to the bundle.
  if (path.startsWith("./") || path.startsWith("../")) return filePath(new URL(path, import.meta.url), p.os);
  if (inBunExecutable(path)) return await cachedLibrary(p, `embedded at ${path}`, () => readBytes(path));
  return path;
}

// ---- opening ----------------------------------------------------------------

async function libraryPath(): Promise<string> {
  const override = envOverride();
  if (override) return override;
  const p = platform();
  const target = hostTarget(p);
  assertSupported(target);
  const file = libraryFile(p.os);
  const url = new URL(`./lib/${target}/${file}`, import.meta.url);
  if (url.protocol === "https:" || url.protocol === "http:") {
    return await cachedLibrary(p, `downloaded from ${url}`, () => fetchBytes(url));
  }
  if (url.protocol !== "file:") {
    throw new CpipeError(`cpipe: cannot load the native library from a ${url.protocol} URL; set CPIPE_LIB`);
  }
  const path = filePath(url, p.os);
  if (!deno) {
    const embedded = await bunEmbedded(`${target}/${file}`, p);
    if (embedded) return embedded;
    if (inBunExecutable(path)) {
      const shipped = shippedTargets(await loadChecksums());
      throw new CpipeError(
        `cpipe: this executable carries no native library for ${target} (it has: ${shipped}); ` +
          "build it with `bun build --compile` from a project where cpipe ships that target, or set CPIPE_LIB",
      );
    }
    return path;
  }
  if (deno.build.standalone) {
    const embedded = await denoEmbedded(`${target}/${file}`);
    if (embedded) return await cachedLibrary(p, "embedded in this executable", embedded);
    // Compiled without raw imports: `--include` serves the file from inside the executable, where dlopen cannot.
    return await cachedLibrary(p, `included at ${path}`, () => readBytes(path));
  }
  return path;
}

/**
 * Inside a `deno compile` executable: the library's bytes as `ffi/lib/embedded_deno.js` imports them, when it was
 * compiled with `--unstable-raw-imports` (which embeds them, as `bun build --compile` embeds ffi/lib/embedded.js'
 * files); undefined without that flag, or without the file (a checkout not built with `make`).
 */
async function denoEmbedded(key: string): Promise<(() => Promise<Uint8Array>) | undefined> {
  try {
    // A literal specifier, so that `deno compile` puts the module (and through it the libraries) in the executable.
    await import("./lib/embedded_deno.js");
  } catch {
    return undefined;
  }
  const load = embeddedBytes.get(key);
  if (load === undefined) return undefined;
  try {
    const bytes = await load();
    return () => Promise.resolve(bytes);
  } catch {
    return undefined; // compiled without --unstable-raw-imports: the bytes import was left out
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** What a user can do about a library that will not load: depends on whether this is a cpipe checkout. */
async function advice(): Promise<string> {
  const sources = new URL("../csrc/", import.meta.url);
  const checkout = sources.protocol === "file:" ? await isDirectory(filePath(sources, platform().os)) : false;
  const build = "Build it with `make` in the cpipe checkout, or point CPIPE_LIB at a built library.";
  if (checkout === true) return build;
  let installed = "Reinstall the package (its ffi/lib/ holds the libraries), or set CPIPE_LIB to a library built " +
    "with `make` from a cpipe checkout.";
  try {
    const checksums = await loadChecksums();
    const target = hostTarget(platform());
    const ships = Object.keys(checksums.files).some((f) => f.startsWith(`${target}/`));
    installed = ships
      ? `The cpipe ${checksums.version} package ships a library for ${target}: ${installed}`
      : `The cpipe ${checksums.version} package ships no library for ${target} (only for: ` +
        `${shippedTargets(checksums)}); set CPIPE_LIB to a library built with \`make\` from a cpipe checkout.`;
  } catch {
    // Without the checksums the advice above still holds; which targets ship is what is lost.
  }
  // Without read permission a checkout cannot be told from a package: both pieces of advice, each labelled.
  return checkout === undefined ? `${installed} (In a cpipe checkout: ${build})` : installed;
}

async function openError(path: string, cause: unknown): Promise<CpipeError> {
  return new CpipeError(`cpipe: cannot load the native library ${path}: ${message(cause)}. ${await advice()}`, {
    cause,
  });
}

/**
 * Both runtimes compile a trampoline for every FFI symbol they bind (Deno about 0.3 ms each here, Bun's TinyCC about
 * 0.05–0.1 ms): binding all of them would cost every import, though a program that only uses a pool needs the
 * `cpipe_pool_` ones. So a family (the symbols sharing a prefix) is bound when one of its functions is first called;
 * the pool's functions for exclusive, added and paused connections are a family of their own, which a pool that only
 * sends on its shared connections never binds.
 */
function symbolFamily(name: string): string {
  if (/^cpipe_pool_(add|remove|acquire|release|pause|connected)$/.test(name)) return "cpipe_pool_connections";
  return /^cpipe_(client|pool)_/.exec(name)?.[0] ?? name;
}

/** Binds the named functions of the library (each runtime its own way). */
type Binder = (names: readonly string[]) => Partial<Native>;

function denoBinder(d: DenoLike, path: string): Binder {
  return (names) => {
    const table = Object.fromEntries(names.map((name) => [name, symbols[name as keyof Native]]));
    // The table is Deno's own notation; see DenoLike.dlopen for the cast.
    return d.dlopen(path, table as never).symbols as Partial<Native>;
  };
}

/**
 * The library's functions, each bound on its family's first call (see `symbolFamily`): until then the property holds
 * a stand-in that binds the family, replaces the stand-ins by the bound functions and calls on. The object keeps one
 * shape throughout (only the values change), so call sites stay monomorphic.
 */
function bindLazily(bind: Binder, first: Partial<Native>): Native {
  const lib = {} as Record<string, unknown>;
  const bindFamily = (family: string): void => {
    Object.assign(lib, bind(Object.keys(symbols).filter((name) => symbolFamily(name) === family)));
  };
  for (const name of Object.keys(symbols)) {
    lib[name] = first[name as keyof Native] ?? ((...args: unknown[]) => {
      bindFamily(symbolFamily(name));
      return (lib[name] as (...a: unknown[]) => unknown)(...args);
    });
  }
  return lib as Native;
}

const BUN_TYPES: Record<string, string | undefined> = {
  buffer: "buffer",
  pointer: "ptr",
  i32: "i32",
  i64: "i64_fast",
  void: "void",
};

function bunType(name: string, t: string): string {
  const mapped = BUN_TYPES[t];
  if (mapped === undefined) throw new CpipeError(`cpipe: ${name} uses the FFI type ${t}, which has no Bun mapping`);
  return mapped;
}

async function bunBinder(path: string): Promise<Binder> {
  const ffi = await import(["bun", "ffi"].join(":")) as BunFFI;
  return (names) => {
    const table: Record<string, { args: string[]; returns: string }> = {};
    for (const name of names) {
      const def = symbols[name as keyof Native];
      table[name] = {
        args: (def.parameters as readonly string[]).map((t) => bunType(name, t)),
        returns: bunType(name, def.result),
      };
    }
    return ffi.dlopen(path, table).symbols as unknown as Partial<Native>;
  };
}

async function open(): Promise<Native> {
  const path = await libraryPath();
  let native: Native;
  try {
    const bind = deno ? denoBinder(deno, path) : await bunBinder(path);
    native = bindLazily(bind, bind(["cpipe_abi_version"]));
  } catch (e) {
    if (isPermissionError(e)) throw e;
    throw await openError(path, e);
  }
  const abi = native.cpipe_abi_version();
  if (abi !== ABI_VERSION) {
    throw new CpipeError(`cpipe: ${path} has ABI ${abi}, this code needs ${ABI_VERSION}. ${await advice()}`);
  }
  return native;
}

/** The opened library, shared by every client in the process. */
export const native: Native = await open();
