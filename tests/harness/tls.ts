/**
 * TLS for the tests: certificates made with the openssl CLI (scripts/test-certs.sh) into a temporary directory,
 * and redis-servers that speak TLS with them (Debian's redis-server is built with TLS).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, type RedisServer, startRedis } from "./server.ts";

/** The test PKI: PEM text of each certificate, and where the files are. */
export interface TestCertificates {
  readonly dir: string;
  /** The CA that signed the server and client certificates. */
  readonly ca: string;
  /** Another CA, which signed neither. */
  readonly wrongCa: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** Removes the directory. */
  remove(): void;
}

/** Makes a fresh CA, server certificates (valid and expired), a client certificate and a wrong CA. */
export function makeCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), "cpipe-tls-"));
  const script = fileURLToPath(new URL("../../scripts/test-certs.sh", import.meta.url));
  const made = spawnSync("bash", [script, dir], { encoding: "utf8" });
  if (made.status !== 0) throw new Error(`scripts/test-certs.sh failed: ${made.stderr}`);
  const read = (name: string): string => readFileSync(join(dir, name), "utf8");
  return {
    dir,
    ca: read("ca.crt"),
    wrongCa: read("wrong-ca.crt"),
    clientCert: read("client.crt"),
    clientKey: read("client.key"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A redis-server with a TLS port beside its plain one (the plain one is the harness' own, for readiness and cli). */
export interface TlsRedisServer extends RedisServer {
  readonly tlsPort: number;
}

export interface TlsServerOptions {
  /** `--tls-auth-clients`: whether a client certificate is required. Default "no". */
  authClients?: "yes" | "no";
  /** Serve the expired certificate. */
  expired?: boolean;
  /** `--tls-protocols`, e.g. "TLSv1.2". Default: the server's (TLS 1.2 and 1.3). */
  protocols?: string;
  /** Pin the server to these CPUs (benchmarks). */
  cpus?: string;
}

/** Starts a redis-server serving TLS with the test certificates. */
export async function startTlsRedis(certs: TestCertificates, options: TlsServerOptions = {}): Promise<TlsRedisServer> {
  const tlsPort = await freePort();
  const file = (name: string): string => join(certs.dir, name);
  const server = await startRedis({
    cpus: options.cpus,
    args: [
      "--tls-port",
      String(tlsPort),
      "--tls-cert-file",
      file(options.expired ? "expired.crt" : "server.crt"),
      "--tls-key-file",
      file("server.key"),
      "--tls-ca-cert-file",
      file("ca.crt"),
      "--tls-auth-clients",
      options.authClients ?? "no",
      ...(options.protocols === undefined ? [] : ["--tls-protocols", options.protocols]),
    ],
  });
  return Object.assign(server, { tlsPort });
}
