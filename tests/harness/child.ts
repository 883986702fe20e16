/** Runs a script in a child process of the runtime running the tests, and reports how it ended. */
import { spawn } from "node:child_process";
import { runtime } from "./shim.ts";

/** How a child process ended: its exit code (or the signal that killed it) and what it printed. */
export interface ChildOutcome {
  code: number | string | null;
  output: string;
}

/** Runs `script args…` under this runtime; kills it after `limitMs` (a hang shows as SIGKILL). */
export function runChild(script: string, args: string[], limitMs = 20_000): Promise<ChildOutcome> {
  const exe = runtime === "deno"
    ? Deno.execPath()
    : (globalThis as unknown as { process: { execPath: string } }).process.execPath;
  const proc = spawn(exe, [...(runtime === "deno" ? ["run", "-A"] : []), script, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  proc.stdout!.on("data", (d) => (output += d));
  proc.stderr!.on("data", (d) => (output += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill("SIGKILL"), limitMs);
    proc.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal ?? code, output });
    });
  });
}
