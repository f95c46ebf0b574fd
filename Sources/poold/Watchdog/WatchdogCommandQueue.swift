import Logging
import NIOCore

/// The escalation and de-escalation commands of a watchdog member (built-in or on etcd), run one after another
/// off the event loop through `CommandRunner`, with their output logged. A command whose condition no longer
/// holds when its turn comes (the lease ended, the term changed) is skipped: an escalation queued behind a slow
/// de-escalation must not raise the VIP for a leadership that is over. Confined to its event loop.
final class WatchdogCommandQueue: @unchecked Sendable {
    private let loop: EventLoop
    private let logger: Logger
    /// Completes when everything queued so far has run (what must wait for the VIP to be down chains on it).
    private(set) var done: EventLoopFuture<Void>

    init(loop: EventLoop, logger: Logger) {
        self.loop = loop
        self.logger = logger
        done = loop.makeSucceededVoidFuture()
    }

    /// Queues `commands` (empty ones skipped). With `stillWanted`, each runs only if it holds right before;
    /// otherwise `skipped` is logged. `then` runs after them, on the loop.
    func run(_ commands: [String], while stillWanted: (@Sendable () -> Bool)? = nil, skipped: String = "",
             then: (@Sendable () -> Void)? = nil) {
        let logger = self.logger, loop = self.loop
        for command in commands where !command.isEmpty {
            done = done.flatMap {
                if let stillWanted, !stillWanted() {
                    logger.warning("\(skipped)", metadata: ["command": "\(command)"])
                    return loop.makeSucceededVoidFuture()
                }
                let promise = loop.makePromise(of: Void.self)
                promise.completeWithTask {
                    let r = await CommandRunner.run(command, logger: logger)
                    if r.status != 0 {
                        logger.error("watchdog command failed", metadata: ["command": "\(command)", "status": "\(r.status)"])
                    }
                }
                return promise.futureResult
            }
        }
        if let then { done = done.map { then() } }
    }
}
