/**
 * TLS for the tests: certificates made with the openssl CLI (scripts/test-certs.sh) into a temporary directory,
 * and redis-servers that speak TLS with them (Debian's redis-server is built with TLS).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, type RedisCluster, type RedisServer, startCluster, startRedis } from "./server.ts";

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
  const server = await startRedis({ cpus: options.cpus, args: tlsArgs(certs, tlsPort, options) });
  return Object.assign(server, { tlsPort });
}

/** The redis-server arguments that serve TLS on `tlsPort` with the test certificates. */
function tlsArgs(certs: TestCertificates, tlsPort: number, options: TlsServerOptions = {}): string[] {
  const file = (name: string): string => join(certs.dir, name);
  return [
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
  ];
}

/** A cluster whose nodes serve TLS beside their plain port (the harness' own), the cluster bus over TLS too. */
export interface TlsRedisCluster extends RedisCluster {
  /** Each node's TLS port, in the order of `nodes`. */
  readonly tlsPorts: number[];
}

/**
 * Starts a 3-master, 3-replica cluster (`startCluster`) whose nodes serve TLS with the test certificates and talk
 * to each other over TLS (`tls-cluster yes`): they announce their TLS ports to clients that come over TLS.
 */
export async function startTlsCluster(certs: TestCertificates): Promise<TlsRedisCluster> {
  const tlsPorts: number[] = [];
  const cluster = await startCluster({
    nodeArgs: async (i, port) => {
      tlsPorts[i] = await freePort();
      return [
        ...tlsArgs(certs, tlsPorts[i]!),
        "--tls-cluster",
        "yes",
        "--tls-replication",
        "yes",
        // The bus port follows the TLS port under tls-cluster: pinned to the plain one's, which redis-cli meets.
        "--cluster-port",
        String(port + 10000),
        // Nodes verify each other's certificates on the bus: the server certificate is for servers only.
        "--tls-client-cert-file",
        join(certs.dir, "client.crt"),
        "--tls-client-key-file",
        join(certs.dir, "client.key"),
      ];
    },
  });
  return Object.assign(cluster, { tlsPorts });
}
