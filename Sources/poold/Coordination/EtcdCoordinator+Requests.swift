import EtcdClient
import Foundation
import Shared

/// Operators' requests made on a follower, forwarded through etcd so that they run on the leader (as the
/// built-in watchdog forwards them in `adminRequest` messages). A follower puts
/// `<prefix>/requests/<member>/<session>-<n>` on its own lease; the leader claims each request in a txn that
/// compares its term (and the request's revision) and deletes the key, so a deposed leader runs nothing and no
/// request runs twice; it answers under `<prefix>/replies/<member>/<id>` on the requester's lease. Both sides
/// poll once per renewal interval.
struct ForwardedRequests {
    struct Pending {
        var reply: @Sendable (AdminResult) -> Void
        /// The leader's term when it was sent: a new term before the answer means it may or may not have run.
        var term: Int64
        var sentAt: Duration
    }

    /// Random per process, so a restarted member never takes an earlier incarnation's answer for its own.
    let session = String(UInt64.random(in: 1...UInt64.max), radix: 16)
    var next: UInt64 = 0
    var pending: [String: Pending] = [:]
    var busy = false
    /// As the watchdog does: a forwarded request nobody answered fails after this long.
    static let timeout: Duration = .seconds(300)
}

extension EtcdCoordinator {
    var requestsPrefix: String { configuration.prefix + "/requests/" }
    var repliesPrefix: String { configuration.prefix + "/replies/" }

    /// A follower's operator request: forward it to the leader through etcd.
    func forward(_ request: WatchdogAdminRequest, _ reply: @escaping @Sendable (AdminResult) -> Void) {
        guard let lease = machine.lease?.id, let leader = machine.leader, leader.name != name else {
            reply(.failure("\(name) knows no watchdog leader now: the request is refused (nothing was done)"))
            return
        }
        requests.next += 1
        let id = "\(requests.session)-\(requests.next)"
        requests.pending[id] = .init(reply: reply, term: leader.createRevision, sentAt: watchdogNow())
        let key = requestsPrefix + name + "/" + id
        logger.notice("watchdog on etcd: forwarding an operator's request to the leader",
                      metadata: ["request": "\(request.etcdValue)", "leader": "\(leader.name)", "id": "\(id)"])
        let client = self.client
        let value = request.etcdValue
        call { [self] in
            do { _ = try await client.put(key: key, value: value, lease: lease) } catch {
                loop.execute { [self] in
                    requests.pending.removeValue(forKey: id)?.reply(.failure("cannot forward the request to the leader through etcd: \(error)"))
                }
            }
            return nil
        }
    }

    /// Once per renewal interval: the leader claims and runs the forwarded requests; a follower takes the
    /// answers to its own and fails those whose leader changed or that timed out.
    func requestsTick() {
        let now = watchdogNow()
        for (id, p) in requests.pending {
            if now - p.sentAt > ForwardedRequests.timeout {
                requests.pending.removeValue(forKey: id)?.reply(.failure("the watchdog leader did not answer within 300 s: check the node status"))
            } else if let term = machine.term, term != p.term {
                requests.pending.removeValue(forKey: id)?.reply(.failure(
                    "the watchdog leader changed before answering: the request may or may not have run; check the node status"))
            }
        }
        guard !requests.busy else { return }
        let client = self.client, c = configuration, me = name, requestsPrefix = self.requestsPrefix, repliesPrefix = self.repliesPrefix
        if let term = machine.actingTerm(now: now) {
            requests.busy = true
            Task { [self] in
                var claimed: [(WatchdogAdminRequest, replyKey: String, lease: Int64)] = []
                if let r = try? await client.range(key: requestsPrefix, prefix: true) {
                    for kv in r.kvs {
                        let path = kv.keyString.dropFirst(requestsPrefix.count)
                        guard let request = WatchdogAdminRequest(etcdValue: kv.valueString) else {
                            _ = try? await client.delete(key: kv.keyString)
                            continue
                        }
                        guard let txn = try? await client.txn(
                            compare: [.createRevision(c.leaderKey, .equal, term), .modRevision(kv.keyString, .equal, kv.modRevision)],
                            success: [.deleteRange(kv.keyString)]), txn.succeeded else { continue }
                        claimed.append((request, repliesPrefix + path, kv.lease))
                    }
                }
                let toRun = claimed
                loop.execute { [self] in
                    requests.busy = false
                    for (request, replyKey, lease) in toRun {
                        guard machine.mayAct(inTerm: term, now: watchdogNow()) else {
                            answer(replyKey, lease: lease, .failure("the watchdog leader changed; nothing was done, retry"))
                            continue
                        }
                        logger.notice("watchdog on etcd: running a forwarded operator's request",
                                      metadata: ["request": "\(request.etcdValue)", "from": "\(replyKey.dropFirst(repliesPrefix.count))"])
                        runtime.submit(.watchdogAdmin(request, reply: { [self] result in answer(replyKey, lease: lease, result) }))
                    }
                }
            }
            return
        }
        guard !requests.pending.isEmpty else { return }
        requests.busy = true
        Task { [self] in
            let r = try? await client.range(key: repliesPrefix + me + "/", prefix: true)
            var answers: [(String, EtcdAdminReply)] = []
            for kv in r?.kvs ?? [] {
                let id = String(kv.keyString.dropFirst((repliesPrefix + me + "/").count))
                if let reply = EtcdAdminReply(etcdValue: kv.valueString) { answers.append((id, reply)) }
                _ = try? await client.delete(key: kv.keyString)
            }
            let got = answers
            loop.execute { [self] in
                requests.busy = false
                for (id, reply) in got {
                    requests.pending.removeValue(forKey: id)?.reply(AdminResult(ok: reply.ok, message: reply.message))
                }
            }
        }
    }

    /// The leader's answer, bound to the requester's lease (it goes if the requester is gone).
    private func answer(_ key: String, lease: Int64, _ result: AdminResult) {
        let client = self.client
        let value = EtcdAdminReply(ok: result.ok, message: result.message).etcdValue
        call {
            _ = try? await client.put(key: key, value: value, lease: lease)
            return nil
        }
    }
}
