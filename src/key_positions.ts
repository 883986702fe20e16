/**
 * Where a command's keys are (`keyPositions`), from the key specs of the servers' command specs, with a table of
 * its own (`KEY_SPECS` in src/command_lists.ts, only names and key specs), and the `keyPrefix` option that puts a
 * prefix on them (`KeyPrefix`). Every client needs this at import, and importing the whole command table with
 * src/command_info.ts cost Deno about 3 ms at start-up (a tenth of importing mod.ts). src/command_info.ts
 * re-exports `keyPositions`.
 *
 * `KeyPrefix` prepends the prefix to every argument `keyPositions` says is a key (never by guessing from the
 * text), on every path a command takes: typed methods, `send`, pipelines, scripts' keys (EVAL/EVALSHA/FCALL's
 * numkeys). As ioredis does, patterns are not keys: KEYS and SCAN's MATCH are sent as given, and the keys that
 * KEYS, SCAN or any reply returns keep the prefix.
 *
 * @module
 */
import type { Arg } from "./types.ts";
import { argString } from "./encoder.ts";
import { KEY_SPECS } from "./command_lists.ts";

/** begin: index (number), [keyword, startFrom], or 0 (unknown); find: ["r", lastKey, step, limit], ["n", …], or 0. */
export type RowKeySpec = [string, number | [string, number], ["r" | "n", number, number, number] | 0];

/** A key spec ready to run: argv indexes as the server counts them (the name at 0). */
interface Finder {
  /** Index to start at, or 0 when a keyword is searched. */
  readonly index: number;
  /** Lower-case keyword to search for, or "". */
  readonly keyword: string;
  readonly startFrom: number;
  /** 0 unknown, 1 range, 2 keynum. */
  readonly kind: 0 | 1 | 2;
  /** range: lastKey, step, limit; keynum: keyNumIndex, firstKey, step (the order of the spec files). */
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly notKey: boolean;
  /** The command writes the key (a spec flagged RW, OW or RM). */
  readonly write: boolean;
}

/** A command's key specs ready to run. */
interface Keys {
  readonly name: string;
  /** Key specs in the order the server applies them. */
  readonly finders: readonly Finder[];
  /**
   * When every key spec is a fixed index and a fixed count of keys: their first and last argv indexes, flat
   * (`[first0, last0, first1, last1…]`). The positions then depend only on the argument count.
   */
  readonly fixed: readonly number[] | undefined;
}

/** Per lower-case name: key specs, or 1 for a container (its subcommands are `container|sub`). Decoded on first use. */
let table: Record<string, RowKeySpec[] | 1> | undefined;
/** Every spelling seen so far → its keys, so a hot name is one Map lookup. */
const byName = new Map<string, Keys | null>();

function keysOf(name: string, specs: RowKeySpec[]): Keys {
  const finders = specs.map(toFinder);
  const fixed = finders.every((f) => f.kind === 1 && f.index > 0 && f.a >= 0 && f.b === 1 && !f.notKey)
    ? finders.flatMap((f) => [f.index, f.index + f.a])
    : undefined;
  return { name, finders, fixed };
}

/** The key specs of `name`, or of its subcommand when `args[0]` names one; undefined for an unknown command. */
function resolveKeys(name: string | Uint8Array, args: readonly Arg[]): Keys | undefined {
  const key = text(name);
  let hit = byName.get(key);
  if (hit === undefined) {
    table ??= JSON.parse(KEY_SPECS) as Record<string, RowKeySpec[] | 1>;
    const lower = key.toLowerCase();
    const specs = Object.hasOwn(table, lower) ? table[lower] : undefined;
    hit = specs === undefined ? null : keysOf(lower, specs === 1 ? [] : specs);
    // Names may be user input (any casing, unknown commands): the cache of spellings is bounded.
    if (byName.size < 4096) byName.set(key, hit);
  }
  if (hit === null) return undefined;
  if (table![hit.name] !== 1 || args.length === 0) return hit;
  const sub = `${hit.name}|${text(args[0]).toLowerCase()}`;
  const specs = Object.hasOwn(table!, sub) ? table![sub] : undefined;
  return specs === undefined || specs === 1 ? hit : keysOf(sub, specs);
}

function toFinder([flags, begin, find]: RowKeySpec): Finder {
  const keyword = typeof begin === "number" ? "" : begin[0];
  return {
    index: typeof begin === "number" ? begin : 0,
    keyword,
    startFrom: typeof begin === "number" ? 0 : begin[1],
    kind: find === 0 || (begin === 0) ? 0 : find[0] === "r" ? 1 : 2,
    a: find === 0 ? 0 : find[1],
    b: find === 0 ? 0 : find[2],
    c: find === 0 ? 0 : find[3],
    notKey: flags.split(" ").includes("NOT_KEY"),
    write: /^(RW|OW|RM) /.test(`${flags} `),
  };
}

/**
 * The table's lower-case name for a command, or for its subcommand when `args[0]` names one (`client|setname`);
 * undefined for a command the table does not know. As `commandInfo(name, args)?.name` in src/command_info.ts.
 */
export function tableName(name: string | Uint8Array, args: readonly Arg[]): string | undefined {
  return resolveKeys(name, args)?.name;
}

/** Whether the command writes any of its keys (a key spec flagged RW, OW or RM); false for an unknown command. */
export function writesKeys(name: string | Uint8Array, args: readonly Arg[]): boolean {
  return resolveKeys(name, args)?.finders.some((f) => f.write) ?? false;
}

/** Whether the table knows subcommands of the command (CLIENT, CONFIG, OBJECT…). */
export function hasSubcommands(name: string | Uint8Array): boolean {
  const keys = resolveKeys(name, []);
  return keys !== undefined && table![keys.name] === 1;
}

/**
 * Whether a command's only key is its first argument whatever the argument count (GET, SET, HSET…): one key
 * spec, at index 1, a range ending there, not `NOT_KEY`, and no subcommands. False for an unknown command.
 */
export function keyIsFirstArgument(name: string | Uint8Array): boolean {
  const keys = resolveKeys(name, []);
  const only = keys?.finders.length === 1 ? keys.finders[0]! : undefined;
  return only !== undefined && only.kind === 1 && only.keyword === "" && only.index === 1 && only.a === 0 &&
    !only.notKey;
}

/** What `text` returns for bytes too long to be a command name, keyword or count: equal to none of them. */
const LONG = "\u0000";

/**
 * The text of an argument, for comparing it with a name or keyword or reading a count. Bytes are read as Latin-1
 * (names and keywords are ASCII); bytes longer than any of those are not read at all.
 */
export function text(arg: Arg | undefined): string {
  if (typeof arg === "string") return arg;
  if (arg instanceof Uint8Array) return arg.length <= 64 ? String.fromCharCode(...arg) : LONG;
  return arg === undefined ? "" : String(arg);
}

/** Options of `keyPositions`. */
export interface KeyPositionOptions {
  /**
   * Also return what key specs mark `NOT_KEY`: the shard channels of SPUBLISH, SSUBSCRIBE and SUNSUBSCRIBE,
   * which a cluster routes by slot like keys. Default false, as `COMMAND GETKEYS`.
   */
  readonly notKeys?: boolean;
}

/**
 * Indexes into `args` of the command's key arguments, in the order the server lists them (`COMMAND GETKEYS`),
 * following its key specs: one key (GET), every other argument (MSET), keys after a count (EVAL, ZUNIONSTORE,
 * LMPOP), keys after a keyword (XREAD … STREAMS, GEORADIUS … STORE), subcommands (OBJECT ENCODING k), plus the
 * two commands whose specs the server completes in code (MIGRATE's KEYS form, SORT … STORE). `[]` for a
 * command without keys; undefined for a command the table does not know. As `COMMAND GETKEYS`, arguments that
 * do not satisfy a key spec (a count that is not a number, a range with no key in it: `PFMERGE dest`) give `[]`
 * for the whole command, not the keys of the other specs; the server will mostly answer such a command with an
 * error.
 *
 * @example
 * ```ts
 * keyPositions("mset", ["a", "1", "b", "2"]); // [0, 2]
 * keyPositions("eval", ["return 1", 2, "k1", "k2", "arg"]); // [2, 3]
 * ```
 */
export function keyPositions(
  name: string | Uint8Array,
  args: readonly Arg[],
  options?: KeyPositionOptions,
): number[] | undefined {
  const entry = resolveKeys(name, args);
  if (!entry) return undefined;
  const argc = args.length + 1;
  const fixed = entry.fixed;
  if (fixed) {
    // The common case (GET, SET, HSET, LMOVE…): no argument needs reading.
    const out: number[] = [];
    for (let i = 0; i < fixed.length; i += 2) {
      const last = fixed[i + 1]!;
      if (last >= argc) return [];
      for (let p = fixed[i]!; p <= last; p++) out.push(p - 1);
    }
    return out;
  }
  switch (entry.name) {
    case "migrate":
      return migrateKeys(args);
    case "sort":
    case "sort_ro":
      return sortKeys(args);
  }
  const notKeys = options?.notKeys === true;
  const out: number[] = [];
  for (const f of entry.finders) {
    if (f.notKey && !notKeys) continue;
    if (f.kind === 0) return [];
    let first = f.index;
    if (f.keyword) {
      first = 0;
      const start = f.startFrom > 0 ? f.startFrom : argc + f.startFrom;
      const end = f.startFrom > 0 ? argc - 1 : 1;
      // As the server: the search stops short of the last argument (forward) or of the name and first argument.
      for (let i = start; i !== end; i = start <= end ? i + 1 : i - 1) {
        if (i >= argc || i < 1) break;
        if (text(args[i - 1]).toLowerCase() === f.keyword) {
          first = i + 1;
          break;
        }
      }
      if (first === 0) continue;
    }
    let last: number;
    let step: number;
    if (f.kind === 1) {
      step = f.b;
      if (f.a >= 0) last = first + f.a;
      else if (f.c === 0) last = argc + f.a;
      else last = first + (Math.trunc((argc - first) / f.c) + f.a);
    } else {
      step = f.c;
      const at = first + f.a;
      if (at >= argc) return [];
      const count = parseCount(args[at - 1]);
      if (count < 0) return [];
      first += f.b;
      last = first + count - 1;
    }
    if (last >= argc || last < first || first >= argc) return [];
    for (let i = first; i <= last; i += step) out.push(i - 1);
  }
  return out;
}

/** A non-negative count as the server parses it (strict decimal), or -1. */
function parseCount(arg: Arg | undefined): number {
  if (typeof arg === "number") return Number.isInteger(arg) && arg >= 0 ? arg : -1;
  if (typeof arg === "bigint") return arg >= 0n && arg <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(arg) : -1;
  const s = text(arg);
  if (!/^(0|[1-9][0-9]{0,15})$/.test(s)) return -1;
  return Number(s);
}

/** MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS k…]. */
function migrateKeys(args: readonly Arg[]): number[] {
  // Options start after host, port, key, db and timeout (args[5]); AUTH takes one value and AUTH2 two.
  for (let i = 5; i < args.length; i++) {
    const word = text(args[i]).toLowerCase();
    if (word === "keys") {
      // The server ignores the key argument in this form and refuses a non-empty one.
      if (text(args[2]) !== "") return [];
      const out: number[] = [];
      for (let k = i + 1; k < args.length; k++) out.push(k);
      return out;
    }
    if (word === "auth") i += 1;
    else if (word === "auth2") i += 2;
  }
  return args.length >= 3 ? [2] : [];
}

/** SORT key [BY p] [LIMIT o c] [GET p …] [ASC|DESC] [ALPHA] [STORE dest]: the key and the last STORE's dest. */
function sortKeys(args: readonly Arg[]): number[] {
  if (args.length === 0) return [];
  let store = -1;
  for (let i = 1; i < args.length; i++) {
    const word = text(args[i]).toLowerCase();
    if (word === "limit") i += 2;
    else if (word === "get" || word === "by") i += 1;
    else if (word === "store" && i + 1 < args.length) store = ++i;
  }
  return store < 0 ? [0] : [0, store];
}

// ---- the keyPrefix option ------------------------------------------------------------------------------------

const utf8 = new TextEncoder();

/** Applies one prefix to the key arguments of commands. */
export class KeyPrefix {
  readonly #text: string;
  readonly #bytes: Uint8Array;

  constructor(prefix: string) {
    this.#text = prefix;
    this.#bytes = utf8.encode(prefix);
  }

  /** The arguments with the prefix on each key; `args` itself when the command has no key (never changed). */
  apply<A extends readonly Arg[]>(command: string, args: A): A {
    const at = keyPositions(command, args);
    if (at === undefined || at.length === 0) return args;
    const out = args.slice() as Arg[];
    for (const i of at) {
      const key = out[i]!;
      if (key instanceof Uint8Array) {
        const joined = new Uint8Array(this.#bytes.length + key.length);
        joined.set(this.#bytes);
        joined.set(key, this.#bytes.length);
        out[i] = joined;
      } else {
        // Refused as the encoder refuses it: a mistaken key (undefined, an object) must not become "prefix:undefined".
        out[i] = this.#text + (typeof key === "string" ? key : argString(key, command, i + 1));
      }
    }
    return out as readonly Arg[] as A;
  }
}

/** A `KeyPrefix` for the settings' `keyPrefix`, or null without one (the common case costs one check per call). */
export function keyPrefixOf(settings: { readonly keyPrefix?: string | null }): KeyPrefix | null {
  return settings.keyPrefix ? new KeyPrefix(settings.keyPrefix) : null;
}

/** The arguments a command is sent with: `args` with `prefix` on each key, or `args` itself without a prefix. */
export function withKeyPrefix<A extends readonly Arg[]>(prefix: KeyPrefix | null, command: string, args: A): A {
  return prefix === null ? args : prefix.apply(command, args);
}

/**
 * `withKeyPrefix` for callers that answer with a promise: the TypeError it throws for a key it cannot prefix is
 * returned instead, for them to reject with.
 */
export function withKeyPrefixOrError<A extends readonly Arg[]>(
  prefix: KeyPrefix | null,
  command: string,
  args: A,
): A | Error {
  try {
    return withKeyPrefix(prefix, command, args);
  } catch (e) {
    return e as Error;
  }
}
