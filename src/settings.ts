/**
 * Encodes a client's or a pool's settings into the key/value buffer the core
 * reads once (`CPIPE_SET_*` in csrc/cpipe.h): one versioned format for every
 * option, so that a new option needs a key, not a new native signature.
 */
import { Setting } from "../ffi/abi.ts";
import { CommandEncoder } from "./encoder.ts";
import type { Arg, ConnectOptions } from "./types.ts";

/** What the core needs to know of one connection. */
export interface ConnectionSettings {
  /** A host name or address, or a unix socket path starting with `/`. */
  host: string;
  port: number;
  connectTimeout: number;
  commandTimeout: number;
  /** Commands replayed after every connect (HELLO, AUTH, SELECT, CLIENT SETNAME…), in order. */
  handshake: readonly (readonly Arg[])[];
  maxReplyBytes?: number;
  /** Seconds of idleness before TCP keepalive probes; 0 for none. */
  keepAlive?: number;
}

/** What the core needs to know of a pool, beyond its connections'. */
export interface PoolSettings extends ConnectionSettings {
  shared: number;
  exclusive: number;
  reconnectMaxDelay: number;
  maxInFlight: number;
}

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

  int(key: number, value: number): void {
    this.#u32(key);
    this.#u32(4);
    this.#ensure(4);
    this.#view.setInt32(this.#length, value, true);
    this.#length += 4;
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

function writeConnection(w: SettingsWriter, s: ConnectionSettings): void {
  w.bytes(Setting.HOST, utf8.encode(s.host));
  w.int(Setting.PORT, s.port);
  w.int(Setting.CONNECT_TIMEOUT, s.connectTimeout);
  w.int(Setting.COMMAND_TIMEOUT, s.commandTimeout);
  if (s.maxReplyBytes !== undefined) w.int(Setting.MAX_REPLY_BYTES, s.maxReplyBytes);
  if (s.keepAlive !== undefined) w.int(Setting.KEEPALIVE, s.keepAlive);
  if (s.handshake.length > 0) {
    const encoder = new CommandEncoder();
    for (const [name, ...args] of s.handshake) encoder.add(String(name), args);
    w.bytes(Setting.HANDSHAKE, encoder.bytes.subarray(0, encoder.length));
  }
}

/** The settings buffer of one connection (the synchronous client, or one added to a pool). */
export function encodeConnectionSettings(s: ConnectionSettings): Uint8Array {
  const w = new SettingsWriter();
  writeConnection(w, s);
  return w.finish();
}

/** The settings buffer of a pool. */
export function encodePoolSettings(s: PoolSettings): Uint8Array {
  const w = new SettingsWriter();
  writeConnection(w, s);
  w.int(Setting.SHARED, s.shared);
  w.int(Setting.EXCLUSIVE, s.exclusive);
  w.int(Setting.RECONNECT_MAX, s.reconnectMaxDelay);
  w.int(Setting.MAX_IN_FLIGHT, s.maxInFlight);
  return w.finish();
}

/** A timeout option in milliseconds, checked; `fallback` when it is not given. */
export function checkTimeout(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 0 || v > 0x7fff_ffff) {
    throw new TypeError(`cpipe: ${name} must be a whole number of milliseconds from 0 to 2^31-1`);
  }
  return v;
}

/**
 * The commands a connection replays after every connect: HELLO (which also
 * authenticates and names the connection) for RESP3, else AUTH and CLIENT
 * SETNAME; then SELECT.
 */
export function handshakeCommands(options: ConnectOptions): Arg[][] {
  const commands: Arg[][] = [];
  const auth: Arg[] = options.password === undefined
    ? []
    : options.username !== undefined
    ? [options.username, options.password]
    : ["default", options.password];
  if (options.protocol === 3) {
    const hello: Arg[] = ["HELLO", 3];
    if (auth.length) hello.push("AUTH", ...auth);
    if (options.name !== undefined) hello.push("SETNAME", options.name);
    commands.push(hello);
  } else {
    if (options.password !== undefined) {
      commands.push(options.username !== undefined ? ["AUTH", ...auth] : ["AUTH", options.password]);
    }
    if (options.name !== undefined) commands.push(["CLIENT", "SETNAME", options.name]);
  }
  if (options.db !== undefined && options.db !== 0) commands.push(["SELECT", options.db]);
  return commands;
}

/** A connection's settings from the public options. */
export function connectionSettings(host: string, port: number, options: ConnectOptions): ConnectionSettings {
  if (typeof host !== "string" || host.length === 0) throw new TypeError("cpipe: host must be a non-empty string");
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`cpipe: port must be an integer from 0 to 65535, not ${port}`);
  }
  if (options.protocol !== undefined && options.protocol !== 2 && options.protocol !== 3) {
    throw new TypeError(`cpipe: protocol must be 2 or 3, not ${options.protocol}`);
  }
  return {
    host,
    port,
    connectTimeout: checkTimeout("connectTimeout", options.connectTimeout, 10_000),
    commandTimeout: checkTimeout("commandTimeout", options.commandTimeout, 0),
    handshake: handshakeCommands(options),
  };
}

/** `host:port`, or the socket path, for messages. */
export function describeAddress(host: string, port: number): string {
  return host.startsWith("/") ? host : `${host}:${port}`;
}
