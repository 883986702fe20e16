/**
 * Encodes a client's or a pool's checked settings (src/options.ts) into the
 * key/value buffer the core reads once (`CPIPE_SET_*` in csrc/cpipe.h): one
 * versioned format for every option, so that a new option needs a key, not
 * a new native signature.
 */
import { Setting } from "../ffi/abi.ts";
import { CommandEncoder } from "./encoder.ts";
import {
  clientInfoCommands,
  type ClientSettings,
  handshakeCommands,
  type PoolSettings,
  type TlsSettings,
} from "./options.ts";
import { runtimeRoots } from "./tls_roots.ts";

const utf8 = new TextEncoder();

class SettingsWriter {
  #bytes = new Uint8Array(256);
  #view = new DataView(this.#bytes.buffer);
  #length = 0;

  constructor() {
    this.#u32(Setting.SETTINGS_VERSION);
  }

  #ensure(extra: number): void {
    if (this.#length + extra <= this.#bytes.length) return;
    const grown = new Uint8Array(Math.max(this.#bytes.length * 2, this.#length + extra));
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer);
  }

  #u32(value: number): void {
    this.#ensure(4);
    this.#view.setUint32(this.#length, value, true);
    this.#length += 4;
  }

  /** An integer entry: i32, or u32 for values past 2^31. */
  int(key: number, value: number): void {
    this.#u32(key);
    this.#u32(4);
    this.#u32(value >>> 0);
  }

  bytes(key: number, value: Uint8Array): void {
    this.#u32(key);
    this.#u32(value.length);
    this.#ensure(value.length);
    this.#bytes.set(value, this.#length);
    this.#length += value.length;
  }

  finish(): Uint8Array {
    return this.#bytes.slice(0, this.#length);
  }
}

/** PEM blocks back to back, one per line at least: Mbed TLS reads them as one bundle. */
function joinPem(parts: readonly Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    joined[at + part.length] = 0x0a;
    at += part.length + 1;
  }
  return joined;
}

function writeTls(w: SettingsWriter, tls: TlsSettings): void {
  w.int(Setting.TLS, 1);
  w.int(Setting.TLS_VERIFY, tls.rejectUnauthorized ? 1 : 0);
  // No ca: the roots the runtime itself trusts. Not needed when nothing is verified.
  const ca = tls.ca.length > 0 ? joinPem(tls.ca) : tls.rejectUnauthorized ? runtimeRoots() : null;
  if (ca !== null) w.bytes(Setting.TLS_CA, ca);
  if (tls.cert !== null && tls.key !== null) {
    w.bytes(Setting.TLS_CERT, tls.cert);
    w.bytes(Setting.TLS_KEY, tls.key);
  }
  if (tls.servername !== null) w.bytes(Setting.TLS_SERVERNAME, utf8.encode(tls.servername));
}

function writeConnection(w: SettingsWriter, s: ClientSettings): void {
  if (s.tls !== null) writeTls(w, s.tls);
  const address = s.address;
  w.bytes(Setting.HOST, utf8.encode(address.kind === "unix" ? address.path : address.host));
  if (address.kind === "tcp") w.int(Setting.PORT, address.port);
  w.int(Setting.CONNECT_TIMEOUT, s.connectTimeout);
  w.int(Setting.COMMAND_TIMEOUT, s.commandTimeout);
  w.int(Setting.MAX_REPLY_BYTES, s.maxReplyBytes);
  // The core counts keepalive in seconds; any non-zero wait is at least one.
  w.int(Setting.KEEPALIVE, s.keepAlive === 0 ? 0 : Math.ceil(s.keepAlive / 1000));
  w.int(Setting.READY_CHECK, s.readyCheck ? 1 : 0);
  if (s.reconnectOnReadOnly) w.int(Setting.RECONNECT_ON_READONLY, 1);
  const handshake = handshakeCommands(s);
  if (handshake.length > 0) {
    const encoder = new CommandEncoder();
    for (const [name, ...args] of handshake) encoder.add(name!, args);
    w.bytes(Setting.HANDSHAKE, encoder.bytes.subarray(0, encoder.length));
    w.int(Setting.HANDSHAKE_LENIENT, clientInfoCommands(s).length);
  }
}

/** The settings buffer of one connection (the synchronous client, or one added to a pool). */
export function encodeConnectionSettings(s: ClientSettings): Uint8Array {
  const w = new SettingsWriter();
  writeConnection(w, s);
  return w.finish();
}

/** The settings buffer of a pool. */
export function encodePoolSettings(s: PoolSettings): Uint8Array {
  const w = new SettingsWriter();
  writeConnection(w, s);
  w.int(Setting.SHARED, s.size);
  w.int(Setting.EXCLUSIVE, s.exclusiveConnections);
  w.int(Setting.RECONNECT_MAX, s.reconnectMaxDelay);
  w.int(Setting.MAX_IN_FLIGHT, s.maxInFlight);
  // With an offline queue, commands wait in it until a connection is up, not
  // staged on one that is dialing (and failed with it if the dial fails).
  w.int(Setting.ONLY_UP, s.offlineQueue ? 1 : 0);
  return w.finish();
}
