/// The watchdog's clocks, from `wd_heartbeat_keepalive` and `wd_heartbeat_deadtime`. The derived values are the
/// safety argument of share/doc/watchdog.md: a leader's lease (half the deadtime) runs out well before any
/// member that answered it may vote for someone else (the full deadtime after it last heard the leader).
public struct WatchdogTimings: Equatable, Sendable {
    /// Seconds between heartbeats.
    public var keepalive: Duration
    /// Silence after which a member is LOST, and before which nobody who heard the leader votes.
    public var deadtime: Duration
    /// `wd_interval`: query-mode lifecheck and trusted-server period.
    public var lifecheckInterval: Duration
    /// `wd_life_point`.
    public var lifePoint: Int

    public init(keepalive: Duration, deadtime: Duration, lifecheckInterval: Duration = .seconds(10), lifePoint: Int = 3) {
        self.keepalive = keepalive
        self.deadtime = deadtime
        self.lifecheckInterval = lifecheckInterval
        self.lifePoint = lifePoint
    }

    /// How long a quorum's answers keep a leader entitled to the VIP, counted from when it sent the beacon they
    /// answered. Half the deadtime: the other half is the margin for `if_down_cmd` and clock-rate drift.
    public var lease: Duration { deadtime / 2 }
    /// The leader's beacon period: at least four beacons per lease, and never slower than heartbeats.
    public var beaconInterval: Duration { min(keepalive, lease / 4) }
    /// How long a member waits for answers (to hello, to a vote request) and the stagger between candidates.
    public var replyTimeout: Duration { beaconInterval }
    /// The VIP guard's deadline is the lease's end plus this: the leader stops at the lease's end (its own
    /// de-escalation), so a renewal computed just before the end reaches the guard before the guard's deadline.
    /// Far below the other half of the deadtime, the safety margin.
    public var guardGrace: Duration { min(.milliseconds(250), lease / 8) }
    /// A gap this long between two events means the process was not running (SIGSTOP, a stalled VM): the
    /// executor ticks at least every `beaconInterval / 2`.
    public var pauseThreshold: Duration { lease / 2 }
}
