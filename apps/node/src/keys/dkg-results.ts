import { EtcdKeys, type EtcdRepository } from '../cluster/etcd.repository'
import { clusterNodeIds } from '../wallet/wallet.types'
import type { AuxResultRecord, DkgResultRecord } from './dkg.types'

/**
 * Each node's outcome of DKG job `jobId`: one get per node of its own partition key. A record
 * that names another node than the partition it sits in is dropped (only the partition's node
 * may write there, so such a record is not that node's word).
 */
export function dkgResults(etcd: Pick<EtcdRepository, 'get'>, jobId: string, clusterSize: number): Promise<DkgResultRecord[]> {
  return perNode<DkgResultRecord>(etcd, (id) => EtcdKeys.dkgResult(jobId, id), clusterSize)
}

/** Each node's outcome of aux info generation `auxId` (as {@link dkgResults}). */
export function auxResults(etcd: Pick<EtcdRepository, 'get'>, auxId: string, clusterSize: number): Promise<AuxResultRecord[]> {
  return perNode<AuxResultRecord>(etcd, (id) => EtcdKeys.auxResult(auxId, id), clusterSize)
}

/**
 * Each node's record under `keyOf(nodeId)` (one get per node, concurrently), dropping a record
 * that names another node than the partition it sits in.
 */
export async function perNode<T extends { nodeId: number }>(etcd: Pick<EtcdRepository, 'get'>, keyOf: (id: number) => string, clusterSize: number): Promise<T[]> {
  const ids = clusterNodeIds(clusterSize)
  const found = await Promise.all(ids.map((id) => etcd.get<T>(keyOf(id))))
  return found.flatMap((e, i) => (e && e.value && e.value.nodeId === ids[i] ? [e.value] : []))
}
