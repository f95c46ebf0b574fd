import EtcdClient
import Foundation
import NIOCore
import Shared

/// What the coordinator keeps about the cluster state beside the leadership machine.
struct ClusterSide {
    var ticks = 0
    /// mod_revision of the `<prefix>/cluster` value last applied (or written) here.
    var appliedRevision: Int64 = 0
    var viewTerm: Int64 = 0
    var version: UInt64 = 0
    /// The term this member last wrote the view in; a new term writes at once.
    var writtenTerm: Int64 = 0
    /// This member's cluster state changed since its last write (as leader).
    var dirty = false
    /// A read or write of the cluster key or the proposals is in flight.
    var busy = false
    /// Nodes this member's own checks fail and the cluster has not failed over: its sessions avoid them.
    var quarantined: Set<Int> = []

    mutating func leadingStarted(term: Int64) { dirty = true }
}

extension EtcdCoordinator {
    /// The hooks the cluster service calls (as it does with the watchdog): findings become proposals under
    /// `<prefix>/proposals/`, changes the leader makes become the view in etcd, operators' requests run on the
    /// leader (forwarded through etcd from a follower).
    func installHooks() {
        let loop = self.loop
        runtime.watchdogHooks.withLock {
            $0 = WatchdogHooks(
                detected: { [self] request in loop.execute { self.detected(request) } },
                nodeAnswered: { [self] id in loop.execute { self.nodeAnswered(id) } },
                clusterChanged: { [self] _ in loop.execute { self.cluster.dirty = true } },
                admin: { [self] request, reply in loop.execute { self.admin(request, reply) } },
                resign: { [self] reply in loop.execute { self.resign(reply) } })
        }
    }

    /// This member's health check calls for a failover: quarantine (node down) and propose it to the leader.
    private func detected(_ request: FailoverConsensus.Request) {
        if request.kind == .nodeDown {
            cluster.quarantined.formUnion(request.nodes)
            var view = WatchdogClusterView(runtime.cluster)
            for id in request.nodes where view.status(of: id).isUsable { view.nodes[id] = .quarantine }
            runtime.submit(.watchdogApply(view, quarantineOnly: true))
        }
        guard let lease = machine.lease?.id else {
            logger.warning("watchdog on etcd: no lease; the failover proposal waits", metadata: ["nodes": "\(request.nodes)"])
            return
        }
        let key = configuration.proposalsPrefix + request.etcdKeyName + "/" + name
        logger.warning("watchdog on etcd: proposing a failover", metadata: ["kind": "\(request.kind)", "nodes": "\(request.nodes)"])
        let client = self.client
        call {
            _ = try? await client.put(key: key, value: "", lease: lease)
            return nil
        }
    }

    /// The node answers this member's health check again: withdraw the proposal, end the quarantine.
    private func nodeAnswered(_ id: Int) {
        let key = configuration.proposalsPrefix + FailoverConsensus.Request(.nodeDown, nodes: [id]).etcdKeyName + "/" + name
        let client = self.client
        call {
            _ = try? await client.delete(key: key)
            return nil
        }
        guard cluster.quarantined.remove(id) != nil else { return }
        var view = WatchdogClusterView(runtime.cluster)
        if view.status(of: id) == .quarantine { view.nodes[id] = .up }
        runtime.submit(.watchdogApply(view, quarantineOnly: true))
    }

    private func admin(_ request: WatchdogAdminRequest, _ reply: @escaping @Sendable (AdminResult) -> Void) {
        guard machine.actingTerm(now: watchdogNow()) != nil else { return forward(request, reply) }
        runtime.submit(.watchdogAdmin(request, reply: reply))
    }

    private func resign(_ reply: @Sendable (AdminResult) -> Void) {
        guard let term = machine.actingTerm(now: watchdogNow()) else {
            reply(.failure("\(name) is not the leader (the leader is \(machine.leader?.name ?? "none")): run resign on the leader"))
            return
        }
        logger.warning("watchdog on etcd: resigning leadership (operator request)", metadata: ["term": "\(term)"])
        handle(.resign)
        reply(.success("\(name) resigned leadership of term \(term): the VIP goes down here, then another member takes the key"))
    }

    func clusterReport() -> WatchdogReport.Cluster? {
        WatchdogReport.Cluster(viewTerm: UInt64(max(0, cluster.viewTerm)), viewVersion: cluster.version,
                               primary: runtime.cluster.primary, quarantined: cluster.quarantined.sorted())
    }

    // MARK: - Every renewal interval

    /// The leader counts proposals and writes its view when it changed (or its term is new); the others read
    /// the view and apply a newer one.
    func clusterTick() {
        let t = configuration.timings
        cluster.ticks += 1
        guard cluster.ticks % max(1, Int(EtcdCoordinator.nanoseconds(t.renewInterval) / max(1, EtcdCoordinator.nanoseconds(t.tickInterval)))) == 0
        else { return }
        requestsTick()
        guard !cluster.busy else { return }
        let c = configuration, client = self.client, logger = self.logger
        if let term = machine.actingTerm(now: watchdogNow()) {
            // Quorum over the members alive in etcd (their keys go with their leases); nothing is decided
            // before the member keys were read once.
            let live = members?.count ?? 0
            // As with the watchdog: failover_require_consensus applies only with failover_when_quorum_exists on;
            // the quorum itself is the leader's hold on the key (etcd's majority).
            let needed = c.consensus.failoverRequireConsensus && c.consensus.failoverWhenQuorumExists
                ? WatchdogQuorum.votesNeeded(members: max(1, live), halfVotes: c.consensus.enableConsensusWithHalfVotes) : 1
            let count = members != nil
            let write = cluster.dirty || cluster.writtenTerm != term
            let record = EtcdClusterRecord(term: term, version: cluster.version + 1, view: WatchdogClusterView(runtime.cluster))
            cluster.busy = true
            Task {
                var decided: [FailoverConsensus.Request] = []
                if count, let r = try? await client.range(key: c.proposalsPrefix, prefix: true) {
                    var voters: [String: Set<Substring>] = [:]
                    for kv in r.kvs {
                        let path = kv.keyString.dropFirst(c.proposalsPrefix.count).split(separator: "/")
                        guard path.count == 2 else { continue }
                        voters[String(path[0]), default: []].insert(path[1])
                    }
                    for (request, who) in voters where who.count >= needed {
                        // Fenced on the term: a deposed leader neither deletes the votes nor fails anything over.
                        guard let r = try? await client.txn(compare: [.createRevision(c.leaderKey, .equal, term)],
                                                            success: [.deleteRange(c.proposalsPrefix + request + "/", prefix: true)]),
                              r.succeeded, let p = FailoverConsensus.Request(etcdKeyName: request) else { continue }
                        decided.append(p)
                    }
                }
                var written: Int64? = nil
                if write, let json = try? JSONEncoder().encode(record) {
                    do {
                        let r = try await client.txn(compare: [.createRevision(c.leaderKey, .equal, term)],
                                                     success: [.put(c.clusterKey, String(decoding: json, as: UTF8.self))])
                        if r.succeeded { written = r.header.revision } else {
                            logger.warning("watchdog on etcd: cluster state refused (this member no longer holds the leader key)",
                                           metadata: ["term": "\(term)"])
                        }
                    } catch {
                        logger.warning("etcd: cannot write the cluster state", metadata: ["error": "\(error)"])
                    }
                }
                let (newRevision, toRun) = (written, decided)
                loop.execute { [self] in
                    let me = self
                    me.cluster.busy = false
                    if let written = newRevision {
                        me.cluster.appliedRevision = written
                        me.cluster.writtenTerm = term
                        me.cluster.viewTerm = term
                        me.cluster.version = record.version
                        me.cluster.dirty = false
                    }
                    for p in toRun where me.machine.mayAct(inTerm: term, now: watchdogNow()) {
                        logger.warning("watchdog on etcd: failover decided by the leader", metadata: [
                            "kind": "\(p.kind)", "nodes": "\(p.nodes)", "term": "\(term)"])
                        me.runtime.submit(.watchdogFailover(p))
                    }
                    me.publishReport()
                }
            }
            return
        }
        cluster.busy = true
        Task {
            let r = try? await client.range(key: c.clusterKey)
            loop.execute { [self] in
                let me = self
                me.cluster.busy = false
                guard let kv = r?.kvs.first, kv.modRevision > me.cluster.appliedRevision,
                      let record = try? JSONDecoder().decode(EtcdClusterRecord.self, from: Data(kv.value)) else { return }
                me.apply(record, revision: kv.modRevision)
            }
        }
    }

    /// Takes the leader's view, keeping this member's own quarantines.
    private func apply(_ record: EtcdClusterRecord, revision: Int64) {
        guard machine.actingTerm(now: watchdogNow()) == nil else { return }
        cluster.appliedRevision = revision
        cluster.viewTerm = record.term
        cluster.version = record.version
        var view = record.view
        for id in cluster.quarantined {
            if view.status(of: id).isUsable { view.nodes[id] = .quarantine } else { cluster.quarantined.remove(id) }
        }
        logger.info("watchdog on etcd: applying the leader's cluster state", metadata: [
            "term": "\(record.term)", "version": "\(record.version)", "primary": "\(record.primary.map(String.init) ?? "none")"])
        runtime.submit(.watchdogApply(view, quarantineOnly: false))
    }
}
