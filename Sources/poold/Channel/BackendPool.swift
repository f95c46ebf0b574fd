import NIOCore
import Shared

/// Idle backend connections of one event loop, by pool key (node + startup packet). Only touched on that
/// loop, so it needs no lock. Pgpool-II caches `max_pool` connection sets per child and has
/// `num_init_children` children; poold caches at most `capacity` = num_init_children × max_pool idle
/// connections across its loops and evicts the oldest when full.
final class BackendPool: @unchecked Sendable {
    private var idle: [String: [BackendConnection]] = [:]
    private var order: [BackendConnection] = []
    let capacity: Int
    let lifeTime: TimeAmount?

    init(capacity: Int, lifeTime: TimeAmount?) {
        self.capacity = capacity
        self.lifeTime = lifeTime
    }

    var count: Int { order.count }

    /// The most recently parked live connection for `key`, if any.
    func take(_ key: String) -> BackendConnection? {
        while var list = idle[key], let c = list.popLast() {
            idle[key] = list.isEmpty ? nil : list
            order.removeAll { $0 === c }
            if c.channel?.isActive == true, !expired(c) { return c }
            c.terminate()
        }
        return nil
    }

    func put(_ c: BackendConnection) {
        guard !expired(c), c.channel?.isActive == true else { c.terminate(); return }
        c.parkIdle()
        if order.count >= capacity, let oldest = order.first {
            order.removeFirst()
            idle[oldest.poolKey]?.removeAll { $0 === oldest }
            oldest.terminate()
        }
        idle[c.poolKey, default: []].append(c)
        order.append(c)
        if let lifeTime, let loop = c.channel?.eventLoop {
            let remaining = c.createdAt + lifeTime - .now()
            loop.scheduleTask(in: max(remaining, .zero)) { [weak self, weak c] in
                guard let self, let c else { return }
                self.evictIfIdle(c)
            }
        }
    }

    private func evictIfIdle(_ c: BackendConnection) {
        guard order.contains(where: { $0 === c }) else { return }
        order.removeAll { $0 === c }
        idle[c.poolKey]?.removeAll { $0 === c }
        c.terminate()
    }

    func removeDead() {
        for c in order where c.channel?.isActive != true { evictIfIdle(c) }
    }

    private func expired(_ c: BackendConnection) -> Bool {
        guard let lifeTime else { return false }
        return NIODeadline.now() >= c.createdAt + lifeTime
    }

    func closeAll() {
        for c in order { c.terminate() }
        order.removeAll()
        idle.removeAll()
    }
}
