/// The watchdog part of pgpool.conf, typed and validated: who the members are, which one this poold is, the
/// virtual IP and its commands, the timings, the lifecheck and the failover-consensus rules. Built once per load
/// from the settings (see `WatchdogConfiguration+Loading.swift`), whichever of Pgpool-II's two forms the file
/// uses: 4.2+'s one list for every host (`hostnameN` … plus the `pgpool_node_id` file) or 4.1's per-host names
/// (`wd_hostname`, `other_pgpool_hostnameN` …). Both give the same `members`.
public struct WatchdogConfiguration: Equatable, Sendable {
    /// Which of Pgpool-II's forms the file used (for messages and `--check`; nothing else depends on it).
    public enum Form: String, Equatable, Sendable {
        /// 4.2+: `hostnameN`/`wd_portN`/`pgpool_portN`, `heartbeat_*N`, and `pgpool_node_id` names this member.
        case memberList = "4.2"
        /// 4.1: `wd_hostname`/`wd_port` are this member (id 0), `other_pgpool_*N` the others (ids 1…).
        case perHost = "4.1"
    }

    public var form: Form
    /// Every configured member, this one included, by ascending id. Quorum counts all of them.
    public var members: [WatchdogMember]
    /// The id of this poold among `members`.
    public var localID: Int
    /// `wd_priority` of this member (the others announce theirs).
    public var priority: Int
    /// `wd_authkey`; nil when empty (no authentication).
    public var authKey: WatchdogAuthKey?
    /// The virtual IP and its commands; nil when `delegate_ip` is empty.
    public var virtualIP: VirtualIP?
    /// `wd_escalation_command` / `wd_de_escalation_command` ('' = none).
    public var escalationCommand: String
    public var deEscalationCommand: String
    public var timings: WatchdogTimings
    public var lifecheck: Lifecheck
    public var consensus: ConsensusRules

    public init(form: Form, members: [WatchdogMember], localID: Int, priority: Int, authKey: WatchdogAuthKey?,
                virtualIP: VirtualIP?, escalationCommand: String, deEscalationCommand: String, timings: WatchdogTimings,
                lifecheck: Lifecheck, consensus: ConsensusRules) {
        self.form = form
        self.members = members
        self.localID = localID
        self.priority = priority
        self.authKey = authKey
        self.virtualIP = virtualIP
        self.escalationCommand = escalationCommand
        self.deEscalationCommand = deEscalationCommand
        self.timings = timings
        self.lifecheck = lifecheck
        self.consensus = consensus
    }

    public var local: WatchdogMember { members.first { $0.id == localID }! }
    public var others: [WatchdogMember] { members.filter { $0.id != localID } }

    /// `delegate_ip` with its commands, `$_IP_$` not yet replaced.
    public struct VirtualIP: Equatable, Sendable {
        public var address: String
        public var upCommand: String
        public var downCommand: String
        public var arpingCommand: String
        /// `if_cmd_path`, `arping_path`, `ping_path`: prefixed to a command that does not start with '/'.
        public var interfaceCommandPath: String
        public var arpingPath: String
        public var pingPath: String

        public init(address: String, upCommand: String, downCommand: String, arpingCommand: String,
                    interfaceCommandPath: String, arpingPath: String, pingPath: String) {
            self.address = address
            self.upCommand = upCommand
            self.downCommand = downCommand
            self.arpingCommand = arpingCommand
            self.interfaceCommandPath = interfaceCommandPath
            self.arpingPath = arpingPath
            self.pingPath = pingPath
        }

        /// The command as run: `$_IP_$` replaced by the address (Pgpool-II replaces nothing else, not `$_IP$`),
        /// and `path/` put in front unless the command starts with '/'.
        public static func expand(_ command: String, address: String, path: String) -> String {
            let replaced = command.replacing("$_IP_$", with: address)
            guard !replaced.hasPrefix("/"), !replaced.isEmpty else { return replaced }
            return path.hasSuffix("/") ? path + replaced : path + "/" + replaced
        }

        public var expandedUp: String { Self.expand(upCommand, address: address, path: interfaceCommandPath) }
        public var expandedDown: String { Self.expand(downCommand, address: address, path: interfaceCommandPath) }
        public var expandedArping: String { Self.expand(arpingCommand, address: address, path: arpingPath) }
    }

    /// How members see each other alive (`wd_lifecheck_method` and its parameters), and how this member sees
    /// its own network (trusted servers, monitored interfaces).
    public struct Lifecheck: Equatable, Sendable {
        public enum Method: String, Equatable, Sendable { case heartbeat, query, external }
        public var method: Method
        public var query: String
        public var database: String
        public var user: String
        public var password: String
        public var trustedServers: [String]
        public var trustedServerCommand: String
        public var monitoringInterfaces: [String]

        public init(method: Method, query: String, database: String, user: String, password: String,
                    trustedServers: [String], trustedServerCommand: String, monitoringInterfaces: [String]) {
            self.method = method
            self.query = query
            self.database = database
            self.user = user
            self.password = password
            self.trustedServers = trustedServers
            self.trustedServerCommand = trustedServerCommand
            self.monitoringInterfaces = monitoringInterfaces
        }
    }

    /// The failover-consensus switches (reference §7.5).
    public struct ConsensusRules: Equatable, Sendable {
        public var failoverWhenQuorumExists: Bool
        public var failoverRequireConsensus: Bool
        public var allowMultipleFailoverRequestsFromNode: Bool
        public var enableConsensusWithHalfVotes: Bool

        public init(failoverWhenQuorumExists: Bool, failoverRequireConsensus: Bool,
                    allowMultipleFailoverRequestsFromNode: Bool, enableConsensusWithHalfVotes: Bool) {
            self.failoverWhenQuorumExists = failoverWhenQuorumExists
            self.failoverRequireConsensus = failoverRequireConsensus
            self.allowMultipleFailoverRequestsFromNode = allowMultipleFailoverRequestsFromNode
            self.enableConsensusWithHalfVotes = enableConsensusWithHalfVotes
        }
    }
}

/// One watchdog member as configured. Its `name` (`host:wd_port`) is how every member knows it, whatever id a
/// host's own file gives it (in the 4.1 form each host numbers the members differently).
public struct WatchdogMember: Equatable, Sendable {
    public var id: Int
    public var hostname: String
    public var wdPort: Int
    public var pgpoolPort: Int
    /// UDP port this member receives heartbeats on.
    public var heartbeatPort: Int
    /// Where heartbeats to this member go (one per address; empty for this member itself in the 4.1 form).
    public var heartbeatDestinations: [HeartbeatDestination]

    public init(id: Int, hostname: String, wdPort: Int, pgpoolPort: Int, heartbeatPort: Int,
                heartbeatDestinations: [HeartbeatDestination]) {
        self.id = id
        self.hostname = hostname
        self.wdPort = wdPort
        self.pgpoolPort = pgpoolPort
        self.heartbeatPort = heartbeatPort
        self.heartbeatDestinations = heartbeatDestinations
    }

    /// The member's identity on the wire and in the persisted term file.
    public var name: String { hostname.contains(":") ? "[\(hostname)]:\(wdPort)" : "\(hostname):\(wdPort)" }
}

/// One heartbeat target: address, UDP port and (optionally) the device to send from.
public struct HeartbeatDestination: Equatable, Sendable {
    public var address: String
    public var port: Int
    public var device: String

    public init(address: String, port: Int, device: String = "") {
        self.address = address
        self.port = port
        self.device = device
    }
}

/// `wd_authkey`. Never printed: every way of printing one says `<redacted>`.
public struct WatchdogAuthKey: Equatable, Sendable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable {
    public let bytes: [UInt8]
    public init(_ key: String) { bytes = Array(key.utf8) }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
