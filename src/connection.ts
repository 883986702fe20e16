/**
 * The synchronous client's native connection and the loop that moves an
 * encoder's commands out and their records in, chunk by chunk, so memory
 * stays bounded at any size.
 */
import { Header, Record } from "../ffi/abi.ts";
import { native } from "../ffi/load.ts";
import type { Handle } from "../ffi/symbols.ts";
import type { CommandEncoder } from "./encoder.ts";
import { ReplyDecoder } from "./decoder.ts";
import { ClosedError, ConnectionError, CpipeError, ProtocolError, type ReplyError } from "./errors.ts";
import { type ConnectionEvent, RecordReader } from "./records.ts";
import { type ClientSettings, redact } from "./options.ts";
import { encodeConnectionSettings } from "./settings.ts";
import { errorFromStatus } from "./status.ts";
import type { Reply } from "./types.ts";

const OUT_SIZE = 256 * 1024;
/** A record buffer grown past this for one huge reply is dropped afterwards. */
const OUT_RETAIN_LIMIT = 16 * 1024 * 1024;
const NO_BYTES = new Uint8Array(0);

const fromUtf8 = new TextDecoder();

/** Frees native handles whose owners were collected without close(). */
const orphans = new FinalizationRegistry<Handle>((handle) => native.cpipe_client_free(handle));

/**
 * Records of streamed commands, kept as the core wrote them until
 * `execute()` decodes them: only then is it known whether bulk strings are
 * wanted as text or as bytes. Starts with a header, as the core's output
 * buffer does, so the same reader reads both.
 */
export class RecordStash {
  bytes: Uint8Array = new Uint8Array(Header.SIZE + 64 * 1024);
  length: number = Header.SIZE;
  /** Records held. */
  entries = 0;

  /** Appends the `count` records, `used` bytes, of an output buffer. */
  append(out: Uint8Array, used: number, count: number): void {
    if (count === 0) return;
    if (this.length + used > this.bytes.length) {
      let size = this.bytes.length * 2;
      while (size < this.length + used) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(out.subarray(Header.SIZE, Header.SIZE + used), this.length);
    this.length += used;
    this.entries += count;
    new DataView(this.bytes.buffer).setUint32(0, this.entries, true);
  }
}

/** Commands handed to the core ahead of `execute()`, and the records that came back meanwhile. */
export interface Streamed {
  commands: number;
  stash: RecordStash;
}

/** Replies gathered from records, and the first failure among them. */
interface Gathered {
  replies: Reply[];
  /** The replies so far of a call that owes several. */
  partial?: Reply[];
  /** Calls finished: replied to or failed. */
  finished: number;
  failure: CpipeError | null;
  /** Whether a call of the run reached the server (a reply, or a failure without the unsent flag). */
  reached: boolean;
}

export class Connection {
  readonly address: string;
  #handle: Handle | null;
  #out = new Uint8Array(OUT_SIZE);
  #errbuf = new Uint8Array(512);
  /** The pipeline whose streamed commands still await replies in the core. */
  #streaming: Streamed | null = null;
  readonly #decoder = new ReplyDecoder();
  readonly #records = new RecordReader();
  /** The server's refusal of the handshake, from the last DOWN event. */
  #refusal: ReplyError | undefined;
  /** Told of every connection event and push; the client's listeners. */
  onEvent: ((event: ConnectionEvent) => void) | null = null;
  /**
   * The events and pushes of the running call, told once its records are read: a listener that calls this
   * connection would otherwise overwrite them (the call's own reply was lost).
   */
  #told: (() => void)[] = [];

  constructor(address: string, settings: ClientSettings) {
    this.address = address;
    this.#records.redact = (text) => redact(text, settings);
    const bytes = encodeConnectionSettings(settings);
    const handle = native.cpipe_client_create(bytes, bytes.length);
    if (handle === null) throw new TypeError(`cpipe: invalid connection settings for ${this.address}`);
    const rc = native.cpipe_client_connect(handle, this.#out, this.#out.length);
    this.#events();
    this.#tell(); // to no one yet: the client listens once it has the connection
    if (rc !== 0) {
      const error = this.#error(rc, handle);
      native.cpipe_client_free(handle);
      throw error;
    }
    this.#handle = handle;
    orphans.register(this, handle, this);
  }

  get closed(): boolean {
    return this.#handle === null;
  }

  /** Reads the events and pushes among the records in the output buffer (after a connect, or a wait). */
  #events(): void {
    const records = this.#records;
    records.attach(this.#out);
    while (records.next()) {
      if (records.kind === Record.EVENT) this.#event(records);
      else if (records.kind === Record.PUSH) this.#push(records.start);
    }
  }

  /** Sees each push first, still encoded (bytes[start…]); true when it took it (a Pub/Sub message). */
  onPushRecord: ((bytes: Uint8Array, start: number) => boolean) | null = null;
  /** Told of the pushes `onPushRecord` did not take. */
  onPush: ((push: Reply) => void) | null = null;

  #push(start: number): void {
    const bytes = this.#records.bytes;
    if (this.onPushRecord?.(bytes, start) || this.onPush === null) return;
    // Decoded apart: the decoder may be in the middle of a buffer for the replies.
    const decoder = new ReplyDecoder();
    decoder.attach(bytes);
    decoder.pos = start;
    let push: Reply;
    try {
      push = decoder.next();
    } catch (e) {
      push = new ProtocolError(`cpipe: ${this.address}: cannot decode a push: ${e}`);
    }
    this.#told.push(() => {
      try {
        this.onPush?.(push);
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    });
  }

  /** Tells the listeners what the call that just ended saw (see `#told`); each may call this connection. */
  #tell(): void {
    const told = this.#told;
    this.#told = [];
    for (const tell of told) tell();
  }

  /**
   * Waits at most `timeoutMs` for records when none came yet (the messages
   * of a subscribed connection) and hands them out (pushes, events). Sends
   * nothing: a connection that is down stays so until the next command.
   */
  wait(timeoutMs: number): void {
    const handle = this.#handle;
    if (handle === null) throw this.#closedError();
    try {
      this.#settleStream(handle, null);
      const rc = native.cpipe_client_wait(handle, timeoutMs, this.#out, this.#out.length);
      if (rc !== 0) throw this.#error(rc, handle);
      this.#events();
      const need = this.#records.header(3);
      if (this.#records.header(0) === 0 && need > 0) this.#out = new Uint8Array(Header.SIZE + need);
    } finally {
      if (this.#told.length > 0) this.#tell();
    }
  }

  #event(records: RecordReader): void {
    const event = records.event();
    if (event.type === "down") this.#refusal = event.serverError;
    this.#told.push(() => this.onEvent?.(event));
  }

  /**
   * Hands the encoder's commands to the core without waiting for their
   * replies, so the server works while the caller encodes more; records
   * that already arrived go to `streamed.stash`. The caller then resets the
   * encoder.
   */
  stream(encoder: CommandEncoder, streamed: Streamed): void {
    const handle = this.#handle;
    if (handle === null) throw this.#closedError();
    this.#settleStream(handle, streamed);
    this.#streaming = null;
    const rc = native.cpipe_client_send(
      handle,
      encoder.bytes,
      encoder.length,
      NO_BYTES,
      0,
      this.#out,
      this.#out.length,
    );
    this.#stash(streamed);
    if (rc !== 0) throw this.#error(rc, handle);
    streamed.commands += encoder.count;
    this.#streaming = streamed;
  }

  /** Moves the records in the output buffer to a stash; grows the buffer when one record needs more room. */
  #stash(streamed: Streamed): void {
    const records = this.#records;
    records.attach(this.#out);
    const got = records.header(0), need = records.header(3);
    streamed.stash.append(this.#out, records.header(1), got);
    if (got === 0 && need > 0) this.#out = new Uint8Array(Header.SIZE + need);
  }

  /**
   * Before anyone else uses the connection, collects every record still owed
   * to the pipeline that streamed last (`except` is the caller's own), so
   * replies always reach the commands they answer.
   */
  #settleStream(handle: Handle, except: Streamed | null): void {
    const owner = this.#streaming;
    if (owner === null || owner === except) return;
    this.#streaming = null;
    while (native.cpipe_client_pending(handle) > 0) {
      const rc = native.cpipe_client_exchange(handle, NO_BYTES, 0, NO_BYTES, 0, this.#out, this.#out.length);
      this.#stash(owner);
      if (rc !== 0) throw this.#error(rc, handle);
    }
  }

  /**
   * Sends every command in `encoder` and returns their replies in order; an
   * error reply is a `ReplyError` in its place. The encoder is left as it
   * was. `asBuffer` asks for bulk strings as bytes, for all replies or per
   * reply. Commands streamed earlier come first: their replies are decoded
   * from `streamed.stash`, then the rest are awaited. A broken connection
   * throws once every call is accounted for.
   */
  run(
    encoder: CommandEncoder,
    asBuffer: boolean | readonly boolean[],
    streamed: Streamed | null = null,
    calls: Uint8Array = NO_BYTES,
  ): Reply[] {
    try {
      return this.#run(encoder, asBuffer, streamed, calls);
    } finally {
      if (this.#told.length > 0) this.#tell();
    }
  }

  #run(
    encoder: CommandEncoder,
    asBuffer: boolean | readonly boolean[],
    streamed: Streamed | null,
    calls: Uint8Array,
  ): Reply[] {
    const handle = this.#handle;
    if (handle === null) throw this.#closedError();
    this.#settleStream(handle, streamed);
    this.#streaming = null;
    const total = encoder.count + (streamed?.commands ?? 0);
    const gathered: Gathered = { replies: [], finished: 0, failure: null, reached: false };
    if (streamed !== null && streamed.stash.entries > 0) this.#gather(streamed.stash.bytes, gathered, asBuffer);
    const chunks = encoder.chunks;
    let nextChunk = 0, sendMore = true;
    while (gathered.finished < total) {
      let cmds: Uint8Array = NO_BYTES, cmdsLen = 0, callBytes: Uint8Array = NO_BYTES;
      if (sendMore && nextChunk < chunks) {
        cmds = chunks === 1 ? encoder.bytes : encoder.chunk(nextChunk);
        cmdsLen = chunks === 1 ? encoder.length : cmds.length;
        if (chunks === 1) callBytes = calls; // calls given with a command that owes several replies
        nextChunk++;
      }
      const out = this.#out;
      const rc = native.cpipe_client_exchange(handle, cmds, cmdsLen, callBytes, callBytes.length, out, out.length);
      if (rc !== 0) throw this.#error(rc, handle);
      const got = this.#gather(out, gathered, asBuffer);
      const need = this.#records.header(3);
      if (got === 0 && need > 0) this.#out = new Uint8Array(Header.SIZE + need);
      else if (got === 0 && cmdsLen === 0 && native.cpipe_client_pending(handle) === 0) {
        throw new CpipeError("cpipe: the core returned no reply (a bug: please report it)");
      }
      sendMore = (this.#records.header(2) & Header.FLAG_UNSENT) === 0;
    }
    if (this.#out.length > OUT_RETAIN_LIMIT) this.#out = new Uint8Array(OUT_SIZE);
    if (gathered.failure !== null) {
      let failure = gathered.failure;
      // Unsent only when none of the run's calls reached the server (one may have, on a new connection).
      if (failure instanceof ConnectionError && failure.unsent && gathered.reached) {
        failure = new ConnectionError(failure.message, { cause: failure.cause });
      }
      if (total > 1) failure.message += ` (${gathered.replies.length} of ${total} replies received)`;
      throw failure;
    }
    return gathered.replies;
  }

  /** Decodes the records of a buffer onto `gathered`; returns how many records it held. */
  #gather(bytes: Uint8Array, gathered: Gathered, asBuffer: boolean | readonly boolean[]): number {
    const records = this.#records, decoder = this.#decoder;
    const perReply = typeof asBuffer !== "boolean";
    if (!perReply) decoder.asBuffer = asBuffer;
    records.attach(bytes);
    if (decoder.bytes !== bytes) decoder.attach(bytes);
    const count = records.header(0);
    while (records.next()) {
      switch (records.kind) {
        case Record.REPLY: {
          gathered.reached = true;
          if (perReply) decoder.asBuffer = asBuffer[gathered.replies.length] ?? false;
          decoder.pos = records.start;
          let reply: Reply;
          try {
            reply = decoder.next();
          } catch (e) {
            // The core checked the reply's framing, so the others are where
            // they belong: only this one is lost, in its own place.
            reply = new ProtocolError(`cpipe: ${this.address}: cannot decode a reply: ${e}`);
          }
          // A call that owes several replies (a Pub/Sub confirmation per channel) gets them as one array.
          if (records.partial) {
            (gathered.partial ??= []).push(reply);
            break;
          }
          if (gathered.partial !== undefined) {
            gathered.partial.push(reply);
            reply = gathered.partial;
            gathered.partial = undefined;
          }
          gathered.replies.push(reply);
          gathered.finished++;
          break;
        }
        case Record.FAILURE:
          gathered.failure ??= errorFromStatus(records.status, records.message, this.#refusal, records.unsent);
          if (!records.unsent) gathered.reached = true;
          gathered.partial = undefined;
          gathered.finished++;
          break;
        case Record.EVENT:
          this.#event(records);
          break;
        case Record.PUSH:
          this.#push(records.start);
          break;
      }
    }
    return count;
  }

  /** Throws ClosedError once `close()` was called. */
  assertOpen(): void {
    if (this.#handle === null) throw this.#closedError();
  }

  #closedError(): CpipeError {
    return new ClosedError(`cpipe: the client for ${this.address} is closed`);
  }

  /** Closes the socket and frees the native handle; safe to call twice. */
  close(): void {
    const handle = this.#handle;
    if (handle === null) return;
    this.#handle = null;
    orphans.unregister(this);
    native.cpipe_client_free(handle);
  }

  /** The error of a call the core refused (nothing of it was sent), or of a failed connect. */
  #error(rc: number, handle: Handle): CpipeError {
    const len = native.cpipe_client_errstr(handle, this.#errbuf, this.#errbuf.length);
    const message = fromUtf8.decode(this.#errbuf.subarray(0, Math.min(len, this.#errbuf.length)));
    return errorFromStatus(rc, this.#records.redact(message), this.#refusal, true);
  }
}
