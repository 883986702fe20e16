/**
 * cpipe's Redis Cluster clients: {@linkcode connectCluster} (synchronous) and {@linkcode connectClusterPool}.
 *
 * A module of its own, beside `mod.ts`: a program that talks to one node never loads the cluster's code (about a
 * fifth of the package's), which every start would otherwise pay for. Errors and the single-node types come from
 * `mod.ts` and are the same classes here.
 *
 * @example
 * ```ts
 * import { connectClusterPool } from "jsr:@x/cpipe/cluster";
 *
 * const cluster = await connectClusterPool(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]);
 * await cluster.set("user:{42}:name", "ada");
 * await cluster.close();
 * ```
 *
 * @module
 */
export { ClusterPool, connectClusterPool } from "./src/cluster/pool.ts";
export { ClusterPipeline, type SplitPipeline } from "./src/cluster/pipeline.ts";
export { ClusterClientPipeline, type ClusterClientQueue } from "./src/cluster/client_pipeline.ts";
export { ClusterClient, connectCluster } from "./src/cluster/client.ts";
export type { ClusterOptions, ClusterStats } from "./src/cluster/options.ts";
export type { ReadFrom } from "./src/cluster/router.ts";
export type { NatMap, NodeAddress } from "./src/cluster/topology.ts";
export { slotOf } from "./src/cluster/slot.ts";
export type { ClusterQueue } from "./src/commands.ts";
