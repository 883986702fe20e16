/** Starts tests/harness/peer.mjs in a node subprocess and tells its port. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface Peer {
  port: number;
  stop(): void;
}

/** How the peer misbehaves: see peer.mjs. */
export type PeerMode = "garbage" | "silent" | "close" | "partial" | "surplus" | "dribble" | `reply:${string}`;

/**
 * A client's options for a peer: it is not Redis, so no handshake (the ready check's PING, CLIENT SETINFO), or a
 * handshake command, not the command under test, would get the reply the peer misbehaves with.
 */
export const PEER_OPTIONS = { readyCheck: false, clientInfo: false } as const;

export function startPeer(mode: PeerMode): Promise<Peer> {
  const script = fileURLToPath(new URL("./peer.mjs", import.meta.url));
  const child = spawn("node", [script, mode], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.stdout!.once("data", (d) => resolve({ port: Number(String(d).trim()), stop: () => child.kill("SIGKILL") }));
  });
}
