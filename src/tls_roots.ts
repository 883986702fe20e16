/**
 * The certificate authorities the runtime itself trusts, for TLS connections given no `ca`: Node's `rootCertificates`
 * (Mozilla's bundle), which Deno and Bun both expose through `node:tls`.
 */
import { CpipeError } from "./errors.ts";

interface NodeProcess {
  getBuiltinModule?(id: string): unknown;
}

let cached: Uint8Array | null = null;

/**
 * The runtime's roots as one PEM bundle, made once per process. `node:tls` is looked up only when first needed (its
 * import costs Deno ~150 ms at start-up), through `process.getBuiltinModule`, which both runtimes provide.
 */
export function runtimeRoots(): Uint8Array {
  if (cached !== null) return cached;
  const process = (globalThis as { process?: NodeProcess }).process;
  const tls = process?.getBuiltinModule?.("node:tls") as { rootCertificates?: readonly string[] } | undefined;
  const roots = tls?.rootCertificates;
  if (roots === undefined || roots.length === 0) {
    throw new CpipeError("cpipe: this runtime exposes no trusted roots (node:tls rootCertificates): give tls.ca");
  }
  cached = new TextEncoder().encode(roots.join("\n") + "\n");
  return cached;
}
