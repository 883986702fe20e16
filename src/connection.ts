/**
 * One native connection and the loop that moves an encoder's commands out and
 * their replies in, chunk by chunk, so memory stays bounded at any size.
 */
import { native } from "../ffi/load.ts";
import type { Handle } from "../ffi/symbols.ts";
import type { CommandEncoder } from "./encoder.ts";
import { HEADER_SIZE, PUSH_TAG, ReplyDecoder } from "./decoder.ts";
import { ClosedError, CpipeError } from "./errors.ts";
import { errorFromStatus } from "./status.ts";
import type { ConnectOptions, Reply } from "./types.ts";

const FLAG_UNSENT = 0x1;
const OUT_SIZE = 256 * 1024;
/** A reply buffer grown past this for one huge reply is dropped afterwards. */
const OUT_RETAIN_LIMIT = 16 * 1024 * 1024;
const NO_BYTES = new Uint8Array(0);

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Frees native handles whose owners were collected without close(). */
const orphans = new FinalizationRegistry<Handle>((handle) => native.cpipe_conn_free(handle));

/** The AUTH / SELECT / CLIENT SETNAME commands the core replays on every (re)connect. */
export function handshake(options: ConnectOptions, encoder: CommandEncoder): void {
  if (options.password !== undefined) {
    encoder.add("AUTH", options.username !== undefined ? [options.username, options.password] : [options.password]);
  }
  if (options.db !== undefined && options.db !== 0) encoder.add("SELECT", [options.db]);
  if (options.name !== undefined) encoder.add("CLIENT", ["SETNAME", options.name]);
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
 * Replies of streamed commands, kept in the core's encoded form until
 * `execute()` decodes them: only then is it known whether bulk strings are
 * wanted as text or as bytes. Starts with an unused header, as the core's
 * output buffer does, so the same decoder reads both.
 */
export class ReplyStash {
  bytes: Uint8Array = new Uint8Array(HEADER_SIZE + 64 * 1024);
  length = HEADER_SIZE;
  /** Replies (and pushes) held. */
  entries = 0;

  /** Appends `count` replies, `used` bytes of them, from an output buffer. */
  append(out: Uint8Array, used: number, count: number): void {
    if (count === 0) return;
    if (this.length + used > this.bytes.length) {
      let size = this.bytes.length * 2;
      while (size < this.length + used) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(out.subarray(HEADER_SIZE, HEADER_SIZE + used), this.length);
    this.length += used;
    this.entries += count;
  }
}

/** Commands handed to the core ahead of `execute()`, and the replies that came back meanwhile. */
export interface Streamed {
  commands: number;
  stash: ReplyStash;
  /** Set when the connection broke before every reply came back. */
  lost?: CpipeError;
}

export class Connection {
  readonly address: string;
  #handle: Handle | null;
  #out = new Uint8Array(OUT_SIZE);
  #errbuf = new Uint8Array(512);
  /** The pipeline whose streamed commands still await replies in the core. */
  #streaming: Streamed | null = null;
  readonly #decoder = new ReplyDecoder();

  constructor(host: string, port: number, options: ConnectOptions, handshakeEncoder: CommandEncoder) {
    if (typeof host !== "string" || host.length === 0) throw new TypeError("cpipe: host must be a non-empty string");
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new TypeError(`cpipe: port must be an integer from 0 to 65535, not ${port}`);
    }
    this.address = host.startsWith("/") ? host : `${host}:${port}`;
    const connectTimeout = checkTimeout("connectTimeout", options.connectTimeout, 10_000);
    const commandTimeout = checkTimeout("commandTimeout", options.commandTimeout, 0);
    handshakeEncoder.reset();
    handshake(options, handshakeEncoder);
    const hostBytes = utf8.encode(host);
    const handle = native.cpipe_conn_create(
      hostBytes,
      hostBytes.length,
      port,
      connectTimeout,
      commandTimeout,
      handshakeEncoder.bytes,
      handshakeEncoder.length,
    );
    handshakeEncoder.reset();
    if (handle === null) throw new TypeError(`cpipe: invalid connection settings for ${this.address}`);
    const rc = native.cpipe_conn_connect(handle);
    if (rc !== 0) {
      const error = this.#error(rc, handle);
      native.cpipe_conn_free(handle);
      throw error;
    }
    this.#handle = handle;
    orphans.register(this, handle, this);
  }

  get closed(): boolean {
    return this.#handle === null;
  }

  /**
   * Hands the encoder's commands to the core without waiting for their
   * replies, so the server works while the caller encodes more; replies that
   * already arrived go to `streamed.stash`. The caller then resets the encoder.
   */
  stream(encoder: CommandEncoder, streamed: Streamed): void {
    const handle = this.#handle;
    if (handle === null) throw this.#closedError();
    this.#settleStream(handle, streamed);
    this.#streaming = null;
    const rc = native.cpipe_conn_send(handle, encoder.bytes, encoder.length, this.#out, this.#out.length);
    this.#stashReplies(streamed);
    if (rc !== 0) throw this.#error(rc, handle, streamed.stash.entries, streamed.commands + encoder.count);
    streamed.commands += encoder.count;
    this.#streaming = streamed;
  }

  /** Moves the replies in the output buffer to a stash; grows the buffer when one reply needs more room. */
  #stashReplies(streamed: Streamed): void {
    const decoder = this.#decoder;
    decoder.attach(this.#out);
    const got = decoder.header(0), need = decoder.header(3);
    streamed.stash.append(this.#out, decoder.header(1), got);
    if (got === 0 && need > 0) this.#out = new Uint8Array(HEADER_SIZE + need);
  }

  /**
   * Before anyone else uses the connection, collects every reply still owed
   * to the pipeline that streamed last (`except` is the caller's own), so
   * replies always reach the commands they answer.
   */
  #settleStream(handle: Handle, except: Streamed | null): void {
    const owner = this.#streaming;
    if (owner === null || owner === except) return;
    this.#streaming = null;
    while (native.cpipe_conn_pending(handle) > 0) {
      const rc = native.cpipe_conn_exchange(handle, NO_BYTES, 0, this.#out, this.#out.length);
      this.#stashReplies(owner);
      if (rc !== 0) {
        owner.lost = this.#error(rc, handle, owner.stash.entries, owner.commands);
        throw this.#error(rc, handle);
      }
    }
  }

  /**
   * Sends every command in `encoder` and returns their replies in order; an
   * error reply is a `ReplyError` in its place. The encoder is left as it was.
   * `asBuffer` asks for bulk strings as bytes, for all replies or per reply.
   * Commands streamed earlier come first: their replies are decoded from
   * `streamed.stash`, then the rest are awaited.
   */
  run(encoder: CommandEncoder, asBuffer: boolean | readonly boolean[], streamed: Streamed | null = null): Reply[] {
    const handle = this.#handle;
    if (handle === null) throw this.#closedError();
    this.#settleStream(handle, streamed);
    this.#streaming = null;
    if (streamed?.lost) throw streamed.lost;
    const decoder = this.#decoder;
    const total = encoder.count + (streamed?.commands ?? 0), replies: Reply[] = [];
    if (streamed !== null && streamed.stash.entries > 0) {
      decoder.attach(streamed.stash.bytes);
      this.#collect(streamed.stash.entries, replies, asBuffer);
    }
    const chunks = encoder.chunks;
    let nextChunk = 0, sendMore = true;
    while (replies.length < total) {
      let cmds: Uint8Array = NO_BYTES, cmdsLen = 0;
      if (sendMore && nextChunk < chunks) {
        cmds = chunks === 1 ? encoder.bytes : encoder.chunk(nextChunk);
        cmdsLen = chunks === 1 ? encoder.length : cmds.length;
        nextChunk++;
      }
      const out = this.#out;
      const rc = native.cpipe_conn_exchange(handle, cmds, cmdsLen, out, out.length);
      decoder.attach(out);
      const got = decoder.header(0);
      this.#collect(got, replies, asBuffer);
      if (rc !== 0) throw this.#error(rc, handle, replies.length, total);
      const need = decoder.header(3);
      if (got === 0 && need > 0) this.#out = new Uint8Array(HEADER_SIZE + need);
      else if (got === 0 && cmdsLen === 0) {
        throw new CpipeError("cpipe: the core returned no reply (a bug: please report it)");
      }
      sendMore = (decoder.header(2) & FLAG_UNSENT) === 0;
    }
    if (this.#out.length > OUT_RETAIN_LIMIT) this.#out = new Uint8Array(OUT_SIZE);
    return replies;
  }

  /** Decodes `count` encoded replies at the decoder's position onto `replies`, skipping pushes. */
  #collect(count: number, replies: Reply[], asBuffer: boolean | readonly boolean[]): void {
    const decoder = this.#decoder;
    const perReply = typeof asBuffer !== "boolean";
    if (!perReply) decoder.asBuffer = asBuffer;
    for (let i = 0; i < count; i++) {
      if (decoder.peekTag() === PUSH_TAG) {
        decoder.next(); // out-of-band: answers no command
        continue;
      }
      if (perReply) decoder.asBuffer = asBuffer[replies.length];
      replies.push(decoder.next());
    }
  }

  /** Throws ClosedError once `close()` was called. */
  assertOpen(): void {
    if (this.#handle === null) throw this.#closedError();
  }

  #closedError(): ClosedError {
    return new ClosedError(`cpipe: the client for ${this.address} is closed`);
  }

  /** Closes the socket and frees the native handle; safe to call twice. */
  close(): void {
    const handle = this.#handle;
    if (handle === null) return;
    this.#handle = null;
    orphans.unregister(this);
    native.cpipe_conn_free(handle);
  }

  #error(rc: number, handle: Handle, received = 0, total = 1): CpipeError {
    const len = native.cpipe_conn_errstr(handle, this.#errbuf, this.#errbuf.length);
    let message = fromUtf8.decode(this.#errbuf.subarray(0, Math.min(len, this.#errbuf.length)));
    if (total > 1) message += ` (${received} of ${total} replies received)`;
    return errorFromStatus(rc, message);
  }
}
