import Synchronization

/// Where a session's CancelRequest must go right now: the backends it holds. Registered once per session key
/// in `Runtime`; transaction pooling changes the targets at every transaction, which then takes only this
/// session's own lock (uncontended) instead of the registry's, which every loop shares.
final class CancelTargets: Sendable {
    private let targets = Mutex<[CancelTarget]>([])

    func set(_ t: [CancelTarget]) { targets.withLock { $0 = t } }
    var current: [CancelTarget] { targets.withLock { $0 } }
}
