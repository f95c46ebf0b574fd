import Logging
import NIOCore
import NIOPosix
import Shared

/// Leasing a session's backend connections after login: the primary and the load-balance node, from the pool
/// or new, waiting out a failover, and checked against the cluster view once they are in.
extension ClientSession {
    var primary: BackendConfig? { runtime.primaryNode }

    /// The session's load-balance node (reference §2.4), or nil when reads stay on the primary.
    private func chooseLoadBalanceNode(_ startup: StartupMessage, primary: BackendConfig) -> BackendConfig? {
        guard routing.loadBalanceMode else { return nil }
        let lagging = runtime.laggingNodes
        let backends = config.backends
        let cluster = runtime.cluster
        func candidates(skipLagging: Bool) -> [NodeCandidate] {
            backends.map { NodeCandidate(id: $0.id, weight: $0.weight, isPrimary: $0.id == primary.id,
                                         isUp: cluster.status(of: $0.id).isUsable && !(skipLagging && lagging.contains($0.id))) }
        }
        var rng = SystemRandomNumberGenerator()
        let skip = routing.preferLowerDelayStandby && !lagging.isEmpty
        let chosen = routing.balancer.select(candidates(skipLagging: skip), applicationName: startup["application_name"] ?? "",
                                             database: startup.database, user: startup.user, using: &rng)
        guard let chosen, chosen != primary.id else { return nil }
        return backends.first { $0.id == chosen }
    }

    /// A cached connection for `node` with this startup packet, or a new one.
    func obtain(_ node: BackendConfig, startup: StartupMessage, secret: PasswordSecret?,
                        on loop: EventLoop) -> EventLoopFuture<BackendConnection> {
        // The node, not the topology, is part of the key: a connection stays valid when its node changes role,
        // and the idle connections of a detached node are closed when it is detached (ProxyServer).
        let key = poolKey(node, startup: startup)
        if config.connectionCache, let pooled = pool.take(key) { return loop.makeSucceededFuture(pooled) }
        let logger = self.logger
        return BackendConnection.connect(node: node, poolKey: key, startup: startup, secret: secret, runtime: runtime,
                                         eventLoop: loop,
                                         connectTimeout: .milliseconds(Int64(max(1000, config.int("connect_timeout")))),
                                         logger: logger)
            .flatMapErrorThrowing { error in
                if error is LeaseFailure { throw error }
                logger.warning("cannot connect to backend", metadata: ["node_id": "\(node.id)", "error": "\(error)"])
                throw LeaseFailure.proxy(ProxyError(.connectionFailure,
                                                    "unable to connect to DB node \(node.id) (\(node.hostname):\(node.port))"))
            }
    }

    /// How long a new session may wait for a failover: detection by health checks plus the primary search,
    /// at most 60 s; 0 when health checks are off (nothing would fail the primary over).
    var failoverWindowMS: Int {
        let s = HealthCheckSettings(config, node: primary?.id ?? 0)
        guard s.period > 0 else { return 0 }
        let detect = (s.period + max(1, s.timeout)) * (s.maxRetries + 1) + s.retryDelay * s.maxRetries
        return 1000 * min(60, detect + max(1, min(30, config.int("search_primary_node_timeout"))))
    }

    /// Connects (or takes from the pool) the primary and chooses the load-balance node; the primary failing
    /// fails the login. (The load-balance node failing later only costs load balancing: `borrowLink`.)
    func lease(_ startup: StartupMessage, secret: PasswordSecret?, waitedMS: Int = 0) {
        guard let context else { return }
        guard let node = primary, runtime.cluster.status(of: node.id).isUsable else {
            if let absence = runtime.primaryAbsence.withLock({ $0 }) {
                loginEvent { $0.backendLeaseFailed(.proxy(absence)) }
                return
            }
            // During a failover new sessions wait for the new primary (as Pgpool-II holds them) rather than
            // failing at once; after search_primary_node_timeout (at most 60 s) they get an error.
            let limit = 1000 * min(60, max(1, config.int("search_primary_node_timeout")))
            guard waitedMS < limit else {
                loginEvent { $0.backendLeaseFailed(.proxy(ProxyError(.cannotConnectNow, "no primary node is available",
                                                                 detail: "a failover may be in progress; retry shortly"))) }
                return
            }
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(100)) {
                let session = loopBound.value
                guard case .negotiating = session.phase else { return }
                session.lease(startup, secret: secret, waitedMS: waitedMS + 100)
            }
            return
        }
        let loop = context.eventLoop
        let loopBound = NIOLoopBound(self, eventLoop: loop)
        let balanceNode = chooseLoadBalanceNode(startup, primary: node)
        leaseSecret = secret
        // The login needs the primary only. The load-balance link is opened (session mode) or borrowed
        // (transaction pooling) at the first unit that goes there: a session that only writes never opens it.
        loadBalanceNodeID = balanceNode?.id
        self.startup = startup
        let primaryFuture = transactionPooling ? borrow(node, on: loop) : obtain(node, startup: startup, secret: secret, on: loop)
        let balanceFuture: EventLoopFuture<BackendConnection?> = loop.makeSucceededFuture(nil)
        primaryFuture.and(balanceFuture).whenComplete { result in
            let session = loopBound.value
            switch result {
            case .success(let (p, l)):
                guard case .negotiating = session.phase else { p.terminate(); l?.terminate(); return }
                // The login overlapped a detach, failover or switchover: lease again from the new view.
                if !session.stillCurrent(primary: p, loadBalance: l) {
                    p.terminate()
                    l?.terminate()
                    session.lease(startup, secret: secret, waitedMS: waitedMS + 1)
                    return
                }
                // PostgreSQL 14+ reports in_hot_standby: the node poold takes for the primary is a standby (the
                // primary search could not tell, or a stale pgpool_status marks the real primary down).
                // Only a new connection's greeting is current: a cached one learns of a promotion at its next query.
                if p.leaseCount == 0, p.greeting.parameters.contains(where: { $0.0 == "in_hot_standby" && $0.1 == "on" }) {
                    p.terminate()
                    l?.terminate()
                    session.runtime.primaryIsStandby(node.id)
                    let (message, _) = PrimarySearch.noPrimaryMessage(downPrimaries: [])
                    session.loginEvent { $0.backendLeaseFailed(.proxy(ProxyError(.cannotConnectNow, message,
                        detail: "node \(node.id), which poold uses as the primary, is a standby; attach or promote the real primary, or restart poold with -D if pgpool_status is stale"))) }
                    return
                }
                session.links = [p, l]
                session.loginEvent { $0.backendLeased(p.greeting) }
            case .failure(let failure):
                balanceFuture.whenSuccess { $0?.terminate() }
                let f = failure as? LeaseFailure ?? .proxy(ProxyError(.connectionFailure, "\(failure)"))
                // The primary refuses connections: while health checks may still fail it over, the new
                // session waits for that (retrying) instead of failing at once.
                if case .proxy(let e) = f, e.code == .connectionFailure, session.failoverWindowMS > waitedMS,
                   case .negotiating = session.phase {
                    session.runtime.submit(.backendError(node.id))
                    loop.scheduleTask(in: .milliseconds(200)) {
                        guard case .negotiating = session.phase else { return }
                        session.lease(startup, secret: secret, waitedMS: waitedMS + 200)
                    }
                    return
                }
                session.loginEvent { $0.backendLeaseFailed(f) }
            }
        }
    }

    /// The leased connections still match the cluster (a detach or failover during the login is not missed).
    func stillCurrent(primary p: BackendConnection, loadBalance l: BackendConnection?) -> Bool {
        runtime.cluster.stillServes(primary: p.node.id, loadBalance: l?.node.id)
    }
}
