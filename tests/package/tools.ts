/**
 * Helpers of the package tests: paths of the checkout and its tools, a child
 * process runner that keeps the event loop free (the tests serve HTTP from the
 * same process), and the environment a user's process would have.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";

/** The checkout's root directory. */
export const ROOT: string = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
export const DENO: string = `${ROOT}/node_modules/.bin/deno`;
export const BUN: string = `${ROOT}/node_modules/.bin/bun`;
/** TypeScript's compiler, pinned in package.json (a user's `bun init` project asks for the same major). */
export const TSC: string = `${ROOT}/node_modules/.bin/tsc`;

/** `ffi/lib/checksums.json`, written by `make`. */
export interface Checksums {
  version: string;
  files: Record<string, string>;
}

export function checksums(root: string = ROOT): Checksums {
  return JSON.parse(readFileSync(`${root}/ffi/lib/checksums.json`, "utf8"));
}

/** This machine's `<target>/<file>`, e.g. `x86_64-linux-gnu/libcpipe.so`. */
export function hostLibrary(): string {
  const os = process.platform === "darwin" ? "macos" : process.platform === "win32" ? "windows" : process.platform;
  const arch = process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : process.arch;
  if (os === "windows") return `${arch}-windows-gnu/cpipe.dll`;
  if (os === "macos") return `${arch}-macos/libcpipe.dylib`;
  const report = (process as unknown as { report?: { getReport(): { header?: { glibcVersionRuntime?: string } } } })
    .report?.getReport();
  return `${arch}-linux-${report?.header?.glibcVersionRuntime ? "gnu" : "musl"}/libcpipe.so`;
}

/** The environment of a user's process: this one's, without CPIPE_LIB, plus `extra`. */
export function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== "CPIPE_LIB") env[k] = v;
  return { ...env, NO_COLOR: "1", ...extra };
}

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion without blocking the event loop; kills it after `timeoutMs`. */
export function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd ?? ROOT, env: options.env ?? userEnv(), stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Fails with the command's output when it did not exit with 0. */
export function check(what: string, r: Result): Result {
  if (r.code !== 0) throw new Error(`${what} exited with ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  return r;
}

/** Corrupts a library's copy in place (the middle byte), so its sha256 no longer matches. */
export function flipMiddleByte(bytes: Uint8Array): void {
  const i = bytes.length >> 1;
  bytes[i] = (bytes[i] ?? 0) ^ 0xff;
}

/** What `npm pack --json` reports of a tarball. */
export interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

/** Packs the checkout into `dir` as a user would get it from npm; returns the tarball's listing. */
export async function pack(dir: string): Promise<Packed> {
  const r = check("npm pack", await run("npm", ["pack", "--json", "--pack-destination", dir], { cwd: ROOT }));
  const first = (JSON.parse(r.stdout) as Packed[])[0];
  assert.ok(first, `npm pack listed no package: ${r.stdout}`);
  return first;
}

/**
 * Installs a packed tarball into `project`'s node_modules as `npm install` or
 * `bun add` leave it (the package has no dependencies, so unpacking is all
 * they do), without asking a registry for anything else the project lists.
 */
export async function unpack(tarball: string, project: string): Promise<string> {
  const dir = join(project, "node_modules", "@x", "cpipe");
  mkdirSync(dir, { recursive: true });
  check("tar", await run("tar", ["-xzf", tarball, "-C", dir, "--strip-components=1"]));
  return dir;
}
