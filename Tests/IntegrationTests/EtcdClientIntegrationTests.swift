import EtcdClient
import Foundation
import XCTest

/// Debian's etcd 3.4 answering the client (Support/EtcdCluster.swift: 3 members on loopback): leases, Patroni's
/// leader-key transaction, CAS on mod_revision, a watch that sees a lease expire, dead endpoints skipped. One
/// cluster for these tests; each works under its own key prefix.
final class EtcdClientIntegrationTests: XCTestCase {
    nonisolated(unsafe) static var cluster: EtcdCluster?
    nonisolated(unsafe) static var setupError: Error?

    override class func setUp() {
        super.setUp()
        do { cluster = try EtcdCluster() } catch { setupError = error }
    }

    override class func tearDown() {
        cluster?.stop()
        cluster = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        if let e = Self.setupError { throw e }
    }

    var cluster: EtcdCluster { Self.cluster! }
    /// This test's keys.
    var prefix: String { "/poold-it/\(name.filter { $0.isLetter || $0.isNumber })/" }

    /// A client whose endpoints are the members in `order` (so the first is where requests start).
    func client(_ order: [Int] = [0, 1, 2]) -> EtcdClient {
        EtcdClient(configuration: .init(endpoints: order.map(cluster.endpoint), requestTimeout: .seconds(1), deadline: .seconds(8)))
    }

    func testLeaseGrantKeepAliveRevoke() async throws {
        let etcd = client()
        defer { etcd.shutdown() }
        let grant = try await etcd.grantLease(ttl: 5)
        XCTAssertNotEqual(grant.id, 0)
        XCTAssertEqual(grant.ttl, 5)
        _ = try await etcd.put(key: prefix + "owned", value: "x", lease: grant.id)
        let renewed = try await etcd.keepAlive(lease: grant.id)
        XCTAssertEqual(renewed.id, grant.id)
        XCTAssertEqual(renewed.ttl, 5)
        let ttl = try await etcd.timeToLive(lease: grant.id, keys: true)
        XCTAssertEqual(ttl.grantedTTL, 5)
        XCTAssertEqual(ttl.keys.map { String(decoding: $0, as: UTF8.self) }, [prefix + "owned"])
        _ = try await etcd.revoke(lease: grant.id)
        let gone = try await etcd.range(key: prefix + "owned")
        XCTAssertEqual(gone.kvs, [], "revoking the lease deletes its keys")
        do {
            _ = try await etcd.keepAlive(lease: grant.id)
            XCTFail("keepalive of a revoked lease succeeded")
        } catch let error as EtcdError {
            XCTAssertTrue(error.isLeaseNotFound, "\(error)")
        }
        do {
            _ = try await etcd.revoke(lease: grant.id)
            XCTFail("revoking twice succeeded")
        } catch let error as EtcdError {
            XCTAssertTrue(error.isLeaseNotFound, "\(error)")
        }
        let after = try await etcd.timeToLive(lease: grant.id)
        XCTAssertEqual(after.ttl, -1)
    }

    /// Patroni's pattern: the key is created bound to the contender's lease only if absent
    /// (CREATE create_revision == 0); the loser's failure branch reads the holder; the holder renews with
    /// VALUE == me; when its lease is gone the other one takes the key in a new term (create revision).
    func testLeaderKeyCreateIfAbsent() async throws {
        let a = client([0, 1, 2]), b = client([2, 1, 0])
        defer { a.shutdown(); b.shutdown() }
        let key = prefix + "leader"
        let leaseA = try await a.grantLease(ttl: 10), leaseB = try await b.grantLease(ttl: 10)
        func campaign(_ etcd: EtcdClient, _ name: String, _ lease: Int64) async throws -> TxnResponse {
            try await etcd.txn(compare: [.createRevision(key, .equal, 0)], success: [.put(key, name, lease: lease)],
                               failure: [.range(key)])
        }
        let wonA = try await campaign(a, "member-a", leaseA.id)
        XCTAssertTrue(wonA.succeeded)
        let lostB = try await campaign(b, "member-b", leaseB.id)
        XCTAssertFalse(lostB.succeeded)
        XCTAssertEqual(lostB.header.endpoint, cluster.endpoint(2), "which endpoint answered is recorded")
        let holder = try XCTUnwrap(lostB.responses.first?.range?.kvs.first)
        XCTAssertEqual(holder.valueString, "member-a")
        XCTAssertEqual(holder.lease, leaseA.id)
        XCTAssertEqual(holder.createRevision, wonA.header.revision, "the term is the key's create revision")

        let renew = try await a.txn(compare: [.value(key, .equal, "member-a")], success: [.put(key, "member-a", lease: leaseA.id)])
        XCTAssertTrue(renew.succeeded)
        let notB = try await b.txn(compare: [.value(key, .equal, "member-b")], success: [.put(key, "member-b", lease: leaseB.id)])
        XCTAssertFalse(notB.succeeded)
        let read = try await b.range(key: key)
        XCTAssertEqual(read.kvs.first?.createRevision, holder.createRevision, "renewing keeps the term")
        XCTAssertEqual(read.kvs.first?.version, 2)

        _ = try await a.revoke(lease: leaseA.id)
        let wonB = try await campaign(b, "member-b", leaseB.id)
        XCTAssertTrue(wonB.succeeded)
        let term2 = try await a.range(key: key)
        XCTAssertGreaterThan(term2.kvs.first?.createRevision ?? 0, holder.createRevision)
        _ = try await b.revoke(lease: leaseB.id)
    }

    /// Fencing: a write conditioned on the mod revision it read fails once anybody else wrote in between.
    func testCASOnModRevisionFailsAfterAnotherWrite() async throws {
        let a = client([0, 1, 2]), b = client([1, 2, 0])
        defer { a.shutdown(); b.shutdown() }
        let key = prefix + "state"
        let first = try await a.put(key: key, value: "v1")
        let read = try await a.range(key: key)
        XCTAssertEqual(read.kvs.first?.modRevision, first.header.revision)
        _ = try await b.put(key: key, value: "v2-by-b")
        let stale = try await a.txn(compare: [.modRevision(key, .equal, first.header.revision)],
                                    success: [.put(key, "v2-by-a")], failure: [.range(key)])
        XCTAssertFalse(stale.succeeded)
        let current = try XCTUnwrap(stale.responses.first?.range?.kvs.first)
        XCTAssertEqual(current.valueString, "v2-by-b")
        let fresh = try await a.txn(compare: [.modRevision(key, .equal, current.modRevision)], success: [.put(key, "v3")])
        XCTAssertTrue(fresh.succeeded)
        let delete = try await a.txn(compare: [.version(key, .equal, 3), .lease(key, .equal, 0)],
                                     success: [.deleteRange(key, prevKV: true)])
        XCTAssertTrue(delete.succeeded)
        guard case .deleteRange(let d)? = delete.responses.first else { return XCTFail("\(delete.responses)") }
        XCTAssertEqual(d.deleted, 1)
        XCTAssertEqual(d.prevKVs.first?.valueString, "v3")
    }

    /// A member key bound to a 2 s lease that nobody renews: the watch (on another member) sees the PUT, then
    /// the DELETE when etcd expires the lease, with the value before it in `prevKV`.
    func testWatchSeesPutThenDeleteWhenALeaseExpires() async throws {
        let a = client([0, 1, 2]), b = client([1, 2, 0])
        defer { a.shutdown(); b.shutdown() }
        let guardTask = shutDown(b, after: .seconds(15))
        defer { guardTask.cancel() }
        let key = prefix + "member/a"
        let lease = try await a.grantLease(ttl: 2)
        let start = try await a.range(key: prefix, prefix: true)
        var events = b.watch(key: prefix, prefix: true, startRevision: start.header.revision + 1).makeAsyncIterator()
        let put = try await a.put(key: key, value: "alive", lease: lease.id)
        let putAt = ContinuousClock.now
        let first = try await events.next()
        XCTAssertEqual(first?.type, .put)
        XCTAssertEqual(first?.kv.valueString, "alive")
        XCTAssertEqual(first?.kv.lease, lease.id)
        XCTAssertEqual(first?.kv.modRevision, put.header.revision)
        let second = try await events.next()
        let elapsed = ContinuousClock.now - putAt
        XCTAssertEqual(second?.type, .delete)
        XCTAssertEqual(second?.kv.keyString, key)
        XCTAssertEqual(second?.prevKV?.valueString, "alive")
        print("etcd: DELETE of a key with an unrenewed TTL 2 s lease seen by the watch \(elapsed) after the put")
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(1500))
        XCTAssertLessThan(elapsed, .seconds(8))
    }

    /// Cancelling the task that iterates a watch ends the iteration (nil), without an error or a hang.
    func testCancellingAWatchEndsIt() async throws {
        let etcd = client()
        defer { etcd.shutdown() }
        let key = prefix + "k"
        let watch = etcd.watch(key: key)
        let task = Task { () -> Int in
            var seen = 0
            for try await _ in watch { seen += 1 }
            return seen
        }
        for i in 0..<20 {
            _ = try await etcd.put(key: key, value: "\(i)")
            try await Task.sleep(for: .milliseconds(20))
        }
        task.cancel()
        let seen = try await task.value
        XCTAssertGreaterThan(seen, 0)
    }

    /// An endpoint nobody listens on is skipped (and recorded as failing); with only dead endpoints a call
    /// throws `.unavailable` naming each once its deadline (here the call's own, 1 s) has passed.
    func testDeadEndpointsAreSkippedAndAllDeadIsUnavailable() async throws {
        let dead = EtcdEndpoint(host: "127.0.0.1", port: Shell.freePort())
        let etcd = EtcdClient(configuration: .init(endpoints: [dead, cluster.endpoint(1)], requestTimeout: .milliseconds(500)))
        defer { etcd.shutdown() }
        let put = try await etcd.put(key: prefix + "k", value: "v")
        XCTAssertEqual(put.header.endpoint, cluster.endpoint(1))
        XCTAssertEqual(etcd.preferredEndpoint, cluster.endpoint(1))
        XCTAssertEqual(etcd.endpointStates[0].consecutiveFailures, 1)
        if case .connect? = etcd.endpointStates[0].lastFailure {} else { XCTFail("\(etcd.endpointStates)") }

        let dead2 = EtcdEndpoint(host: "127.0.0.1", port: Shell.freePort())
        let none = EtcdClient(configuration: .init(endpoints: [dead, dead2]))  // default deadline 5 s
        defer { none.shutdown() }
        let started = ContinuousClock.now
        do {
            _ = try await none.range(key: prefix + "k", timeouts: .init(request: .milliseconds(200), deadline: .seconds(1)))
            XCTFail("a call with no live endpoint succeeded")
        } catch EtcdError.unavailable(let failures) {
            XCTAssertEqual(Set(failures.map(\.endpoint)), [dead, dead2])
        }
        let took = ContinuousClock.now - started
        XCTAssertGreaterThanOrEqual(took, .milliseconds(500), "it kept trying for most of the deadline")
        XCTAssertLessThan(took, .seconds(3))
    }

    func testMemberListAndStatus() async throws {
        let etcd = client()
        defer { etcd.shutdown() }
        let list = try await etcd.memberList()
        XCTAssertEqual(Set(list.members.map(\.name)), ["e0", "e1", "e2"])
        XCTAssertEqual(Set(list.members.flatMap(\.clientURLs)), Set(cluster.endpoints.map(\.description)))
        var leaders: Set<UInt64> = []
        for endpoint in cluster.endpoints {
            let status = try await etcd.status(endpoint: endpoint)
            XCTAssertTrue(status.version.hasPrefix("3."), status.version)
            XCTAssertEqual(status.header.endpoint, endpoint)
            XCTAssertTrue(list.members.contains { $0.id == status.header.memberID })
            leaders.insert(status.leader)
        }
        XCTAssertEqual(leaders.count, 1, "every member names the same raft leader")
        XCTAssertNotEqual(leaders.first, 0)
    }
}

/// Faults that need a cluster of their own: the raft leader killed under a client and a watch, and
/// authentication on a 1-member cluster whose tokens live 1 s.
final class EtcdFailoverIntegrationTests: XCTestCase {
    /// The index of the member the others follow, from each member's status.
    func leaderIndex(_ cluster: EtcdCluster, _ etcd: EtcdClient) async throws -> Int {
        for i in 0..<cluster.size {
            let status = try await etcd.status(endpoint: cluster.endpoint(i))
            if status.leader == status.header.memberID { return i }
        }
        throw HarnessError("no etcd member is the raft leader")
    }

    /// kill -9 of the raft leader while the client's requests and a watch go to it: the next write goes through
    /// a surviving member as soon as the rest elect a leader (time printed), and the watch resumes there with
    /// no event lost.
    func testRaftLeaderKilledRequestsAndWatchContinue() async throws {
        let cluster = try EtcdCluster()
        defer { cluster.stop() }
        let probe = EtcdClient(configuration: .init(endpoints: cluster.endpoints))
        defer { probe.shutdown() }
        let leader = try await leaderIndex(cluster, probe)
        let order = [leader] + (0..<cluster.size).filter { $0 != leader }
        let etcd = EtcdClient(configuration: .init(endpoints: order.map(cluster.endpoint), requestTimeout: .milliseconds(500),
                                                   deadline: .seconds(15)))
        defer { etcd.shutdown() }
        let guardTask = shutDown(etcd, after: .seconds(25))
        defer { guardTask.cancel() }

        let start = try await etcd.range(key: "/k/", prefix: true)
        var events = etcd.watch(key: "/k/", prefix: true, startRevision: start.header.revision + 1).makeAsyncIterator()
        let marker = try await etcd.put(key: "/k/marker", value: "before")
        XCTAssertEqual(marker.header.endpoint, cluster.endpoint(leader))
        let seen = try await events.next()
        XCTAssertEqual(seen?.kv.keyString, "/k/marker", "the watch runs (on the leader, where requests go)")

        cluster.signal(leader, SIGKILL)
        let killedAt = ContinuousClock.now
        let after = try await etcd.put(key: "/k/after", value: "written after the kill")
        let took = ContinuousClock.now - killedAt
        print("etcd: raft leader e\(leader) killed (-9); first successful write \(took) later via \(after.header.endpoint.map(\.description) ?? "?"), raft term \(marker.header.raftTerm) -> \(after.header.raftTerm)")
        XCTAssertNotEqual(after.header.endpoint, cluster.endpoint(leader))
        XCTAssertGreaterThan(after.header.raftTerm, marker.header.raftTerm)
        XCTAssertLessThan(took, .seconds(10))
        XCTAssertGreaterThan(etcd.endpointStates[0].consecutiveFailures, 0, "the killed member is recorded as failing")

        let resumed = try await events.next()
        XCTAssertEqual(resumed?.kv.keyString, "/k/after", "the watch resumed on a survivor from the next revision")
        XCTAssertEqual(resumed?.kv.modRevision, after.header.revision)
        print("etcd: watch resumed, event at revision \(resumed?.kv.modRevision ?? 0) \(ContinuousClock.now - killedAt) after the kill")

        let read = try await etcd.range(key: "/k/", prefix: true)
        XCTAssertEqual(read.kvs.map(\.keyString), ["/k/after", "/k/marker"])
    }

    /// With a user the client authenticates and sends the token; a token etcd has forgotten (its TTL here is
    /// 1 s) is replaced without the caller seeing it. Without credentials, or with a wrong password, etcd refuses.
    func testAuthTokenIsSentAndRenewedWhenEtcdForgetsIt() async throws {
        let cluster = try EtcdCluster(members: 1, extraArguments: ["--auth-token", "simple", "--auth-token-ttl", "1"])
        defer { cluster.stop() }
        for (path, body) in [("/v3/auth/role/add", #"{"name":"root"}"#), ("/v3/auth/user/add", #"{"name":"root","password":"s3cret"}"#),
                             ("/v3/auth/user/grant", #"{"user":"root","role":"root"}"#), ("/v3/auth/enable", "{}")] {
            let answer = cluster.post(0, path, body)
            XCTAssertTrue(answer.hasPrefix("HTTP/1.0 200"), "\(path): \(answer)")
        }
        let etcd = EtcdClient(configuration: .init(endpoints: cluster.endpoints, user: "root", password: "s3cret"))
        defer { etcd.shutdown() }
        _ = try await etcd.put(key: "/auth/k", value: "v1")
        let read = try await etcd.range(key: "/auth/k")
        XCTAssertEqual(read.kvs.first?.valueString, "v1")

        // a token of our own, to see that etcd forgets tokens after their TTL
        let auth = cluster.post(0, "/v3/auth/authenticate", #"{"name":"root","password":"s3cret"}"#)
        let token = try XCTUnwrap(auth.range(of: #""token":""#).map { auth[$0.upperBound...].prefix { $0 != "\"" } })
        try await Task.sleep(for: .milliseconds(2500))
        let stale = cluster.post(0, "/v3/kv/range", #"{"key":"eA=="}"#, token: String(token))
        XCTAssertTrue(stale.contains("invalid auth token"), stale)
        _ = try await etcd.put(key: "/auth/k", value: "v2")  // the client's token expired too: it authenticates again
        let reread = try await etcd.range(key: "/auth/k")
        XCTAssertEqual(reread.kvs.first?.valueString, "v2")

        let anonymous = EtcdClient(configuration: .init(endpoints: cluster.endpoints, deadline: .seconds(2)))
        defer { anonymous.shutdown() }
        do {
            _ = try await anonymous.range(key: "/auth/k")
            XCTFail("a read without credentials succeeded")
        } catch EtcdError.server(let code, let message) {
            XCTAssertNotEqual(code, 14, message)
        }
        let wrong = EtcdClient(configuration: .init(endpoints: cluster.endpoints, deadline: .seconds(2), user: "root", password: "nope"))
        defer { wrong.shutdown() }
        do {
            _ = try await wrong.range(key: "/auth/k")
            XCTFail("a read with a wrong password succeeded")
        } catch EtcdError.server(_, let message) {
            XCTAssertTrue(message.contains("authentication failed"), message)
        }
    }
}

/// Closes `client` after `delay` unless cancelled, so that a watch that never delivers fails the test (its
/// iteration throws) instead of hanging it.
func shutDown(_ client: EtcdClient, after delay: Duration) -> Task<Void, Never> {
    Task {
        do { try await Task.sleep(for: delay) } catch { return }
        client.shutdown()
    }
}
