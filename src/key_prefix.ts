/**
 * The `keyPrefix` option: prepended to every argument the command table says is a key (`keyPositions`, from the
 * servers' own key specs, never by guessing from the text), on every path a command takes: typed methods,
 * `send`, pipelines, scripts' keys (EVAL/EVALSHA/FCALL's numkeys). As ioredis does, patterns are not keys:
 * KEYS and SCAN's MATCH are sent as given, and the keys that KEYS, SCAN or any reply returns keep the prefix.
 */
import { keyPositions } from "./key_positions.ts";
import type { Arg } from "./types.ts";

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
      } else out[i] = this.#text + String(key);
    }
    return out as readonly Arg[] as A;
  }
}

/** A `KeyPrefix` for the settings' `keyPrefix`, or null without one (the common case costs one check per call). */
export function keyPrefixOf(settings: { readonly keyPrefix?: string | null }): KeyPrefix | null {
  return settings.keyPrefix ? new KeyPrefix(settings.keyPrefix) : null;
}
