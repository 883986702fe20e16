/**
 * Finds and opens the native library for the running runtime and platform.
 * Order: `CPIPE_LIB`, then the library under `ffi/lib/<target>/` beside this
 * file (a local `make` writes it there; packages ship it there).
 */
import { ABI_VERSION, type Native, symbols } from "./symbols.ts";
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
  env: Record<string, string | undefined>;
  report?: { getReport(): { header?: { glibcVersionRuntime?: string } } };
}

const isDeno = typeof Deno !== "undefined" && typeof Deno.dlopen === "function";

function platform(): Platform {
  if (isDeno) {
    const build = Deno.build as typeof Deno.build & { env?: string };
    return {
      os: build.os === "darwin" ? "macos" : build.os,
      arch: build.arch,
      abi: build.env === "musl" ? "musl" : "gnu",
    };
  }
  const proc = (globalThis as unknown as { process: BunProcess }).process;
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

/** The library's file name on an OS. */
export function libraryFile(os: string): string {
  return os === "windows" ? "cpipe.dll" : os === "macos" ? "libcpipe.dylib" : "libcpipe.so";
}

function envOverride(): string | undefined {
  if (isDeno) {
    const status = Deno.permissions.querySync({ name: "env", variable: "CPIPE_LIB" });
    return status.state === "granted" ? Deno.env.get("CPIPE_LIB") : undefined;
  }
  return (globalThis as unknown as { process: BunProcess }).process.env.CPIPE_LIB;
}

function localLibraryPath(p: Platform): string {
  const url = new URL(`./lib/${hostTarget(p)}/${libraryFile(p.os)}`, import.meta.url);
  if (url.protocol !== "file:") {
    throw new CpipeError(`cpipe: loading the native library from ${url.protocol} URLs is not supported yet`);
  }
  const path = decodeURIComponent(url.pathname);
  return p.os === "windows" ? path.replace(/^\/([A-Za-z]:)/, "$1") : path;
}

function libraryPath(): string {
  const override = envOverride();
  if (override) return override;
  const p = platform();
  if (!(SUPPORTED_TARGETS as readonly string[]).includes(hostTarget(p))) {
    throw new CpipeError(
      `cpipe: no native library for ${hostTarget(p)}; supported: ${SUPPORTED_TARGETS.join(", ")}`,
    );
  }
  return localLibraryPath(p);
}

function openError(path: string, cause: unknown): CpipeError {
  return new CpipeError(
    `cpipe: cannot load the native library ${path}: ${cause instanceof Error ? cause.message : cause}. ` +
      "Build it with `make` in the cpipe checkout, or point CPIPE_LIB at a built library.",
    { cause },
  );
}

function openDeno(path: string): Native {
  try {
    return Deno.dlopen(path, symbols).symbols as unknown as Native;
  } catch (e) {
    if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) throw e;
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
  const path = libraryPath();
  const native = isDeno ? openDeno(path) : await openBun(path);
  const abi = native.cpipe_abi_version();
  if (abi !== ABI_VERSION) {
    throw new CpipeError(`cpipe: ${path} has ABI ${abi}, this code needs ${ABI_VERSION}; rebuild it with \`make\``);
  }
  return native;
}

/** The opened library, shared by every client in the process. */
export const native: Native = await open();
