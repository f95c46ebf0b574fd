/// A command every watchdog member runs on itself, sent by the member an operator asked: Pgpool-II's
/// `wd_execute_cluster_command` behind `pcp_reload_config -s c` and `pcp_stop_pgpool -s c`. No leader and no
/// consensus are involved: the asking member sends it to every other member and runs it too.
public enum WatchdogClusterCommand: Equatable, Hashable, Sendable {
    /// Re-read the configuration (SIGHUP).
    case reload
    /// Shut down in this mode.
    case stop(StopMode)

    public enum StopMode: Equatable, Hashable, Sendable { case smart, fast, immediate }

    /// The `clusterCommand` payload's byte.
    var wireCode: UInt8 {
        switch self {
        case .reload: return 1
        case .stop(.smart): return 2
        case .stop(.fast): return 3
        case .stop(.immediate): return 4
        }
    }

    init?(wireCode: UInt8) {
        switch wireCode {
        case 1: self = .reload
        case 2: self = .stop(.smart)
        case 3: self = .stop(.fast)
        case 4: self = .stop(.immediate)
        default: return nil
        }
    }
}
