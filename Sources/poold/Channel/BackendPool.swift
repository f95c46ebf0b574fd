import NIOCore
import Shared

/// Idle backend connections of one event loop, by pool key (node + startup packet). Only touched on that
/// loop, so it needs no lock. Pgpool-II caches `max_pool` connection sets per child and has
/// `num_init_children` children; poold caches at most `capacity` = num_init_children × max_pool idle
/// connections across its loops and evicts the oldest when full.
final class BackendPool: @unchecked Sendable {
    private var idle: [String: [BackendConnection]] = [:]
    /// Parking order of every idle connection: membership test and age, O(1) on the hot path.
    private var parked: [ObjectIdentifier: (sequence: Int, connection: BackendConnection)] = [:]
    private var sequence = 0
    let capacity: Int
    let lifeTime: TimeAmount?
    /// Classifications of recent statement texts on this loop, so repeated texts are lexed once.
    private var classifications = ClassificationCache()

    func classify(_ text: String) -> Classification {
        classifications.classification(of: text) { StatementClassifier.classify($0) }
    }

    /// pool_mode = transaction: connections borrowed per transaction.
    let transactions: TransactionPool

    /// This loop's shard of `NodeStatistics`.
    let shard: Int

    init(capacity: Int, lifeTime: TimeAmount?, transactionLimit: Int = 1, shard: Int = 0) {
        self.capacity = capacity
        self.shard = shard
        self.lifeTime = lifeTime
        self.transactions = TransactionPool(limit: transactionLimit, lifeTime: lifeTime)
    }

    /// The most recently parked live connection for `key`, if any.
    func take(_ key: String) -> BackendConnection? {
        while var list = idle[key], let c = list.popLast() {
            idle[key] = list.isEmpty ? nil : list
            parked.removeValue(forKey: ObjectIdentifier(c))
            if c.channel?.isActive == true, !expired(c) { return c }
            c.terminate()
        }
        return nil
    }

    func put(_ c: BackendConnection) {
        guard !expired(c), c.channel?.isActive == true else { c.terminate(); return }
        c.parkIdle()
        if parked.count >= capacity, let oldest = parked.values.min(by: { $0.sequence < $1.sequence })?.connection {
            remove(oldest)
            oldest.terminate()
        }
        sequence += 1
        idle[c.poolKey, default: []].append(c)
        parked[ObjectIdentifier(c)] = (sequence, c)
        if let lifeTime, let loop = c.channel?.eventLoop {
            let remaining = c.createdAt + lifeTime - .now()
            loop.scheduleTask(in: max(remaining, .zero)) { [weak self, weak c] in
                guard let self, let c, self.parked[ObjectIdentifier(c)] != nil else { return }
                self.remove(c)
                c.terminate()
            }
        }
    }

    private func remove(_ c: BackendConnection) {
        parked.removeValue(forKey: ObjectIdentifier(c))
        idle[c.poolKey]?.removeAll { $0 === c }
        if idle[c.poolKey]?.isEmpty == true { idle[c.poolKey] = nil }
    }

    private func expired(_ c: BackendConnection) -> Bool {
        guard let lifeTime else { return false }
        return NIODeadline.now() >= c.createdAt + lifeTime
    }

    /// Closes the idle connections `matching` says must go (a database about to be dropped or renamed, a
    /// detached node), so they do not hold the server back.
    func closeIdle(matching: (BackendConnection) -> Bool) {
        transactions.closeIdle(matching: matching)
        for c in parked.values.map(\.connection) where matching(c) {
            remove(c)
            c.terminate()
        }
    }

    func closeAll() {
        transactions.closeAll()
        for (_, entry) in parked { entry.connection.terminate() }
        parked.removeAll()
        idle.removeAll()
    }
}
