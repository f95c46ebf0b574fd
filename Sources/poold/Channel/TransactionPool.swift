import NIOCore
import Shared

/// pool_mode = transaction: the backend connections of one event loop that sessions borrow for one
/// transaction at a time, by pool key (node + startup packet). At most `limit` connections per key exist on
/// the loop (transaction_pool_size split among the loops), leased, idle or connecting; a session that finds
/// none idle and the limit reached waits in line, and a connection given back goes straight to the first
/// live waiter. Only touched on its loop, like `BackendPool`, so it needs no lock.
final class TransactionPool: @unchecked Sendable {
    /// A session waiting for a connection: called with one, or with nil when it may open a new one.
    /// Returns false when the session no longer waits (it left), and the next waiter is asked.
    typealias Waiter = (BackendConnection?) -> Bool

    let limit: Int
    let lifeTime: TimeAmount?
    private var idle: [String: [BackendConnection]] = [:]
    private var open: [String: Int] = [:]
    private var waiters: [String: CircularBuffer<Waiter>] = [:]

    init(limit: Int, lifeTime: TimeAmount?) {
        self.limit = max(1, limit)
        self.lifeTime = lifeTime
    }

    /// The most recently returned live idle connection, if any.
    func take(_ key: String) -> BackendConnection? {
        while var list = idle[key], let c = list.popLast() {
            idle[key] = list.isEmpty ? nil : list
            if c.channel?.isActive == true, !expired(c) { return c }
            c.terminate()
        }
        return nil
    }

    /// True (and counted) when a new connection for `key` may be opened now.
    func reserve(_ key: String) -> Bool {
        let n = open[key] ?? 0
        guard n < limit else { return false }
        open[key] = n + 1
        return true
    }

    /// A counted connection closed, or a reserved one failed to open: a waiter may open one instead.
    func gone(_ key: String, on loop: EventLoop) {
        if let n = open[key] { open[key] = n > 1 ? n - 1 : nil }
        guard let next = nextWaiter(key), reserve(key) else { return }
        loop.assumeIsolated().execute { if !next(nil) { self.gone(key, on: loop) } }
    }

    func wait(_ key: String, _ waiter: @escaping Waiter) {
        waiters[key, default: CircularBuffer()].append(waiter)
    }

    /// A session is done with `c` (its replies are all in, its transaction is over). A waiter gets it on
    /// the next turn of the loop, not inside the giving session's own callbacks.
    func giveBack(_ c: BackendConnection) {
        guard let loop = c.channel?.eventLoop, c.channel?.isActive == true, !expired(c) else { c.terminate(); return }
        c.parkIdle()
        c.statements.quiet()
        if let next = nextWaiter(c.poolKey) {
            loop.assumeIsolated().execute { if !next(c) { self.giveBack(c) } }
            return
        }
        idle[c.poolKey, default: []].append(c)
    }

    private func nextWaiter(_ key: String) -> Waiter? {
        guard var line = waiters[key], let next = line.popFirst() else { return nil }
        waiters[key] = line.isEmpty ? nil : line
        return next
    }

    private func expired(_ c: BackendConnection) -> Bool {
        guard let lifeTime else { return false }
        return NIODeadline.now() >= c.createdAt + lifeTime
    }

    func closeIdle(matching: (BackendConnection) -> Bool) {
        for (key, list) in idle {
            let (gone, kept) = (list.filter(matching), list.filter { !matching($0) })
            idle[key] = kept.isEmpty ? nil : kept
            for c in gone { c.terminate() }
        }
    }

    func closeAll() {
        for list in idle.values { for c in list { c.terminate() } }
        idle.removeAll()
    }
}
