/**
 * Reply shaping: what turns a raw reply into a typed method's result (the
 * transforms), and how a pipeline's replies are shaped together, a MULTI's
 * in EXEC's array. The command catalogue (src/commands.ts) names a transform
 * per method; nothing here knows a command.
 */
import { ReplyError } from "./errors.ts";
import type { Reply } from "./types.ts";

/** Turns a raw reply into a typed method's result (never called on an error reply). */
export type Transform<T> = (reply: Reply) => T;

/** A sorted-set member with its score. */
export interface ScoredMember {
  /** The member. */
  member: string;
  /** Its score. */
  score: number;
}

/** A double in a reply: a number under RESP3, its decimal text (`"3.5"`, `"inf"`) under RESP2. */
export type Double = number | string;

/**
 * A map in a reply: a `Map` under RESP3, a flat `[key, value, key, value…]` array under RESP2 (keys are strings,
 * or bytes from a `*Buffer` method).
 */
export type RespMap<V> = Map<string | Uint8Array, V> | (string | Uint8Array | V)[];

export const asNumber: Transform<number> = (r) => r as number;
export const asString: Transform<string> = (r) => r as string;
export const asNullableString: Transform<string | null> = (r) => r as string | null;
export const asStrings: Transform<string[]> = (r) => r as string[];
export const asNullableStrings: Transform<(string | null)[]> = (r) => r as (string | null)[];
export const asBytes: Transform<Uint8Array | null> = (r) => r as Uint8Array | null;

/** A score as Redis sends it (a double in RESP3, a string in RESP2); a missing one is NaN, not 0. */
export function parseScore(r: Reply | undefined): number {
  if (typeof r === "number") return r;
  if (r === undefined) return NaN;
  const s = r as string;
  return s === "inf" || s === "+inf" ? Infinity : s === "-inf" ? -Infinity : Number(s);
}
export const asScore: Transform<number | null> = (r) => (r === null ? null : parseScore(r));

export const asRecord: Transform<Record<string, string>> = (r) => {
  if (r instanceof Map) return Object.fromEntries(r) as Record<string, string>;
  const flat = r as string[], record: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i], value = flat[i + 1];
    if (field !== undefined && value !== undefined) record[field] = value;
  }
  return record;
};

export const asScoredMembers: Transform<ScoredMember[]> = (r) => {
  const flat = r as Reply[], out: ScoredMember[] = [];
  for (let i = 0; i < flat.length; i++) {
    const item = flat[i];
    // RESP3 answers [member, score] pairs; RESP2 a flat list.
    if (Array.isArray(item)) out.push({ member: item[0] as string, score: parseScore(item[1]) });
    else out.push({ member: item as string, score: parseScore(flat[++i]) });
  }
  return out;
};

/*
 * MULTI, EXEC and DISCARD queued by name are marked in a pipeline's
 * transforms, so that the replies of a transaction can be shaped where they
 * arrive: in EXEC's array, not in the "QUEUED" each command gets first.
 */
const MULTI_MARK: Transform<Reply> = (r) => r;
const EXEC_MARK: Transform<Reply> = (r) => r;
const DISCARD_MARK: Transform<Reply> = (r) => r;

function transactionMark(command: string): Transform<Reply> | null {
  // A cheap filter first: addCommand runs per command in the longest pipelines.
  const first = command.charCodeAt(0) | 0x20; // lower case
  if (command.length < 4 || command.length > 7 || (first !== 0x6d && first !== 0x65 && first !== 0x64)) return null;
  const name = command.toUpperCase();
  return name === "MULTI" ? MULTI_MARK : name === "EXEC" ? EXEC_MARK : name === "DISCARD" ? DISCARD_MARK : null;
}

const utf8 = new TextDecoder();

/** A reply decoded with bulk strings as bytes, as it would have been decoded as text. */
function asText(reply: Reply): Reply {
  if (reply instanceof Uint8Array) return utf8.decode(reply);
  if (Array.isArray(reply)) return reply.map(asText);
  if (reply instanceof Map) {
    const map = new Map<Reply, Reply>();
    for (const [k, v] of reply) map.set(asText(k), asText(v));
    return map;
  }
  return reply;
}

/**
 * Turns a pipeline's raw replies into its typed methods' results, in place:
 * each reply through its command's transform, error replies left as they
 * are. Inside a MULTI a command's own reply ("QUEUED", or the error that
 * refused it) is left as it is, and its transform is applied to its element
 * of EXEC's array; an EXEC that did not run (null when a WATCHed key
 * changed, EXECABORT) and a DISCARD leave the transaction's replies raw.
 */
export function applyTransforms(replies: Reply[], transforms: readonly (Transform<unknown> | null)[]): Reply[] {
  /** Inside MULTI: the transforms of the commands the server queued, in order; null outside. */
  let queued: (Transform<unknown> | null)[] | null = null;
  for (let i = 0; i < replies.length; i++) {
    // i < replies.length; a transform missing (more replies than transforms) leaves its reply raw.
    const reply = replies[i] as Reply, transform = transforms[i] ?? null;
    const failed = reply instanceof ReplyError;
    if (transform === MULTI_MARK) {
      if (queued === null && !failed) queued = [];
    } else if (transform === EXEC_MARK) {
      if (queued !== null && Array.isArray(reply) && reply.length === queued.length) applyTransforms(reply, queued);
      queued = null;
    } else if (transform === DISCARD_MARK) {
      if (!failed) queued = null;
    } else if (queued !== null) {
      // A command the server refused to queue has no element in EXEC's array.
      if (!failed) queued.push(transform);
    } else if (transform !== null && !failed) {
      replies[i] = transform(reply) as Reply;
    }
  }
  return replies;
}

/**
 * What a pipeline keeps per queued command to shape its reply: the
 * transform (null: the raw reply) and whether bulk strings come as bytes.
 * The arrays are replaced, not cleared, on `reset()`: a pool takes them over.
 */
export class ReplyPlan {
  transforms: (Transform<unknown> | null)[] = [];
  asBuffer: boolean[] = [];
  /** Index of the MULTI the commands since are queued in; -1 outside one. */
  #multi = -1;

  /** Commands planned. */
  get length(): number {
    return this.transforms.length;
  }

  /** Whether a MULTI queued by name is open: not yet closed by EXEC or DISCARD. */
  get inTransaction(): boolean {
    return this.#multi >= 0;
  }

  /** Whether the plan is one transaction and nothing else, MULTI first and EXEC last, as `multi()` … `exec()` sends. */
  get soleTransaction(): boolean {
    const transforms = this.transforms;
    return transforms[0] === MULTI_MARK && transforms[transforms.length - 1] === EXEC_MARK &&
      transforms.indexOf(MULTI_MARK, 1) < 0;
  }

  /** Plans a command's reply; `byName` for `addCommand`, which may open or close a transaction. */
  add(command: string, transform: Transform<unknown> | null, asBuffer: boolean, byName: boolean): void {
    this.asBuffer.push(asBuffer);
    const mark = byName ? transactionMark(command) : null;
    if (mark === null) {
      this.transforms.push(transform);
      return;
    }
    const at = this.transforms.push(mark) - 1;
    if (mark === MULTI_MARK) {
      if (this.#multi < 0) this.#multi = at;
      return;
    }
    if (mark === EXEC_MARK && this.#multi >= 0) this.#decodeExec(this.#multi + 1, at);
    this.#multi = -1;
  }

  /**
   * EXEC's array is decoded in one way, text or bytes. When a command queued
   * in its transaction wants bytes, EXEC is decoded as bytes and the others
   * turn theirs back into text before their transform.
   */
  #decodeExec(from: number, exec: number): void {
    const asBuffer = this.asBuffer, transforms = this.transforms;
    let bytes = false;
    for (let i = from; i < exec; i++) bytes ||= asBuffer[i] === true;
    if (!bytes) return;
    asBuffer[exec] = true;
    for (let i = from; i < exec; i++) {
      if (asBuffer[i]) continue;
      const transform = transforms[i] ?? null;
      transforms[i] = transform === null ? asText : (reply) => transform(asText(reply));
    }
  }

  /** Forgets every command (new arrays: the old ones may have been handed over). */
  reset(): void {
    this.transforms = [];
    this.asBuffer = [];
    this.#multi = -1;
  }
}
