/**
 * The pool's commands awaiting replies, by id. An id is an index into these
 * parallel arrays, reused once its reply was delivered; the native core
 * hands it back with the reply, whatever connection carried the command.
 */
import type { Transform } from "./commands.ts";
import type { Reply } from "./types.ts";

/** The replies of a pipeline, gathered before its promise settles. */
export class Group {
  readonly replies: Reply[];
  readonly transforms: (Transform<unknown> | null)[];
  remaining: number;
  /** The first failure of a connection (not an error reply): rejects the whole pipeline. */
  failure: Error | null = null;
  readonly resolve: (replies: Reply[]) => void;
  readonly reject: (error: Error) => void;

  constructor(
    transforms: (Transform<unknown> | null)[],
    resolve: (replies: Reply[]) => void,
    reject: (error: Error) => void,
  ) {
    this.transforms = transforms;
    this.remaining = transforms.length;
    this.replies = new Array(transforms.length);
    this.resolve = resolve;
    this.reject = reject;
  }
}

const INITIAL = 1024;

export class CallTable {
  /** Settles a single call (with a rejected promise when it fails); undefined for a pipeline member or a free id. */
  resolve: (((value: unknown) => void) | undefined)[] = [];
  transform: (Transform<unknown> | null)[] = [];
  /** 1 when bulk strings are wanted as bytes. */
  asBuffer: Uint8Array = new Uint8Array(INITIAL);
  /** For pipeline members: the group and the index in it. */
  group: (Group | undefined)[] = [];
  index: Int32Array = new Int32Array(INITIAL);
  #free: number[] = [];
  #size = 0;

  /** Ids in use. */
  get used(): number {
    return this.#size - this.#free.length;
  }

  alloc(): number {
    if (this.#free.length > 0) return this.#free.pop()!;
    const id = this.#size++;
    if (id === this.asBuffer.length) {
      const bytes = new Uint8Array(id * 2), index = new Int32Array(id * 2);
      bytes.set(this.asBuffer);
      index.set(this.index);
      this.asBuffer = bytes;
      this.index = index;
    }
    this.resolve.push(undefined);
    this.transform.push(null);
    this.group.push(undefined);
    return id;
  }

  /** Ids still awaiting their reply. */
  pending(): number[] {
    const ids: number[] = [];
    for (let id = 0; id < this.#size; id++) {
      if (this.resolve[id] !== undefined || this.group[id] !== undefined) ids.push(id);
    }
    return ids;
  }

  release(id: number): void {
    this.resolve[id] = undefined;
    this.transform[id] = null;
    this.group[id] = undefined;
    this.#free.push(id);
  }
}
