/// THE settings table: every pgpool.conf parameter poold knows, with Pgpool-II 4.6's default and context.
/// `support: .planned` marks parameters accepted for compatibility that poold does not act on yet.
public enum Settings {
    private typealias S = SettingDescriptor
    private static func int(_ min: Int, _ max: Int) -> S.Kind { .integer(min: min, max: max, unit: .none) }
    private static func sec(_ min: Int, _ max: Int) -> S.Kind { .integer(min: min, max: max, unit: .seconds) }
    private static func ms(_ min: Int, _ max: Int) -> S.Kind { .integer(min: min, max: max, unit: .milliseconds) }
    private static let big = Int(Int32.max)

    public static let all: [SettingDescriptor] = connection + pooling + backends + logging + routing
        + replicationCheck + health + failover + recovery + watchdog + coordination + cache + tls

    private static let connection: [S] = [
        S("backend_clustering_mode", .enumeration(["streaming_replication", "native_replication", "logical_replication",
            "snapshot_isolation", "slony", "raw"]), "streaming_replication", .restart, "connection",
          "How backends replicate; poold implements streaming_replication (and raw routing to the primary)."),
        S("listen_addresses", .list, "localhost", .restart, "connection",
          "Comma-separated addresses to listen on for clients; '*' means all, '' only the Unix socket."),
        S("port", int(1, 65535), "9999", .restart, "connection", "TCP port (and Unix socket name) for clients."),
        S("unix_socket_directories", .list, "/tmp", .restart, "connection",
          "Directories for the client Unix socket .s.PGSQL.<port>.", aliases: ["socket_dir"]),
        S("unix_socket_group", .string, "", .restart, "connection", "Group owning the Unix sockets.", support: .planned),
        S("unix_socket_permissions", int(0, 0o777), "0777", .restart, "connection", "Permissions of the client Unix socket."),
        S("pcp_listen_addresses", .list, "localhost", .restart, "connection",
          "Comma-separated addresses the PCP port listens on; '*' means all, '' only the Unix socket."),
        S("pcp_port", int(1, 65535), "9898", .restart, "connection", "PCP port (TCP, and the Unix socket's name)."),
        S("pcp_socket_dir", .list, "/tmp", .restart, "connection",
          "Directories for the PCP Unix socket .s.PGSQL.<pcp_port>; '' for none."),
        S("pcp_node_info_layout", .enumeration(["4.3", "4.4"]), "4.3", .reload, "connection",
          "poold: NodeInfo field order sent to pcp_node_info: '4.3' for Pgpool-II 4.3 clients (Debian 12's pgpool2 4.3.5), '4.4' for 4.4 and later (share/doc/pcp.md)."),
        S("listen_backlog_multiplier", int(1, big), "2", .restart, "connection",
          "Listen queue length = num_init_children × this."),
        S("serialize_accept", .bool, "off", .restart, "connection",
          "pgpool: serialise accept() among children. poold has no children; accepted and ignored.", support: .planned),
        S("io_threads", int(0, 1024), "0", .restart, "connection",
          "poold: event-loop threads serving clients and backends; 0 = one per CPU core."),
        S("admin_socket", .string, "", .restart, "connection",
          "poold: path of the local admin socket (mode 0600); '' puts it in logdir as poold_admin.sock."),
    ]

    private static let pooling: [S] = [
        S("num_init_children", int(1, big), "32", .restart, "pooling",
          "Maximum concurrent client sessions; more clients wait (or are refused, see reserved_connections)."),
        S("max_pool", int(1, big), "4", .restart, "pooling",
          "Cached backend connections per session slot: poold keeps at most num_init_children × max_pool idle."),
        S("reserved_connections", int(0, big), "0", .restart, "pooling",
          "When ≥ 1, clients beyond num_init_children − reserved_connections get 53300 instead of waiting."),
        S("process_management_mode", .enumeration(["static", "dynamic"]), "static", .reload, "pooling",
          "pgpool child process management; poold serves every client on event loops and ignores it.", support: .planned),
        S("process_management_strategy", .enumeration(["lazy", "gentle", "aggressive"]), "gentle", .reload, "pooling",
          "pgpool dynamic child scaling.", support: .planned),
        S("min_spare_children", int(1, big), "5", .reload, "pooling", "pgpool dynamic mode.", support: .planned),
        S("max_spare_children", int(1, big), "10", .reload, "pooling", "pgpool dynamic mode.", support: .planned),
        S("child_life_time", sec(0, big), "300", .restart, "pooling", "pgpool child recycling.", support: .planned),
        S("child_max_connections", int(0, big), "0", .restart, "pooling", "pgpool child recycling.", support: .planned),
        S("connection_life_time", sec(0, big), "0", .restart, "pooling",
          "Seconds a cached backend connection may live; 0 = forever."),
        S("client_idle_limit", sec(0, big), "0", .session, "pooling",
          "Disconnect a client idle between statements for this many seconds; 0 = never."),
        S("client_idle_limit_in_recovery", sec(-1, big), "0", .session, "pooling",
          "client_idle_limit during online recovery.", support: .planned),
        S("connection_cache", .bool, "on", .restart, "pooling", "Cache backend connections for reuse."),
        S("reset_query_list", .string, "ABORT; DISCARD ALL", .reload, "pooling",
          "Queries run (';'-separated) when a client leaves, before the connection is cached."),
        S("pool_mode", .enumeration(["session", "transaction"]), "session", .restart, "pooling",
          "poold: 'session' leases backends for the whole client session (Pgpool-II); 'transaction' returns them to the pool at the end of each transaction (share/doc/transaction-pooling.md)."),
        S("transaction_pool_size", int(1, big), "20", .restart, "pooling",
          "poold, pool_mode = transaction: backend connections per node for each user/database pair (split among event loops); more clients wait for one."),
        S("max_prepared_statements", int(1, big), "200", .restart, "pooling",
          "poold, pool_mode = transaction: prepared statements kept per backend connection; the least recently used beyond it is closed."),
        S("authentication_timeout", sec(0, big), "60", .restart, "pooling",
          "Seconds a client has to finish authentication; 0 = no limit."),
        S("enable_pool_hba", .bool, "off", .reload, "auth", "Authenticate clients with pool_hba.conf."),
        S("pool_passwd", .string, "pool_passwd", .restart, "auth",
          "File with user:secret lines (md5…, TEXT…, AES…), mode 0600; relative to pgpool.conf's directory; '' disables."),
        S("allow_clear_text_frontend_auth", .bool, "off", .reload, "auth",
          "Ask a client without a pool_passwd entry for a clear-text password when a backend wants one."),
        S("pool_hba_file", .string, "pool_hba.conf", .restart, "auth",
          "poold: path of pool_hba.conf, relative to pgpool.conf's directory (pgpool -a)."),
        S("pcp_file", .string, "pcp.conf", .restart, "auth",
          "poold: path of pcp.conf (user:md5 lines), relative to pgpool.conf's directory (pgpool -F); re-read on reload."),
    ]

    private static let backends: [S] = [
        S("backend_hostname", .string, "", .reload, "backends",
          "Host of backend N; a value starting with '/' is a Unix socket directory.", indexed: .required),
        S("backend_port", int(1, 65535), "5432", .reload, "backends", "Port of backend N.", indexed: .required),
        S("backend_weight", .real(min: 0, max: 1e9), "1", .reload, "backends",
          "Load-balance weight of backend N (normalised over all nodes).", indexed: .required),
        S("backend_data_directory", .string, "", .reload, "backends",
          "Data directory of backend N (online recovery, %D).", indexed: .required),
        S("backend_flag", .string, "ALLOW_TO_FAILOVER", .reload, "backends",
          "ALLOW_TO_FAILOVER | DISALLOW_TO_FAILOVER | ALWAYS_PRIMARY, '|'-combined.", indexed: .required),
        S("backend_application_name", .string, "", .reload, "backends",
          "application_name of backend N in its primary_conninfo (replication state).", indexed: .required),
    ]

    private static let logging: [S] = [
        S("log_destination", .string, "stderr", .reload, "logging", "stderr (syslog is accepted and logged to stderr)."),
        S("log_line_prefix", .string, "%m: %a pid %p: ", .reload, "logging", "pgpool log prefix.", support: .planned),
        S("log_connections", .bool, "off", .reload, "logging", "Log each client connection."),
        S("log_disconnections", .bool, "off", .reload, "logging", "Log each client disconnection."),
        S("log_hostname", .bool, "off", .reload, "logging", "Log client host names.", support: .planned),
        S("log_statement", .bool, "off", .session, "logging", "Log every statement.", support: .planned),
        S("log_per_node_statement", .bool, "off", .session, "logging", "Log statements per node.", support: .planned),
        S("notice_per_node_statement", .bool, "off", .session, "logging", "Notice per node.", support: .planned),
        S("log_client_messages", .bool, "off", .session, "logging", "Log client messages.", support: .planned),
        S("log_backend_messages", .enumeration(["none", "terse", "verbose"]), "none", .session, "logging",
          "Log backend messages.", support: .planned),
        S("log_standby_delay", .enumeration(["none", "always", "if_over_threshold"]), "if_over_threshold", .reload,
          "logging", "Log standby delay at every replication check (always) or only beyond delay_threshold."),
        S("log_pcp_processes", .bool, "on", .reload, "logging", "Log PCP processes.", support: .planned),
        S("log_error_verbosity", .enumeration(["terse", "default", "verbose"]), "default", .session, "logging",
          "Error detail in logs.", support: .planned),
        S("client_min_messages", .enumeration(["debug5", "debug4", "debug3", "debug2", "debug1", "log", "notice",
            "warning", "error"]), "notice", .session, "logging", "Messages sent to clients.", support: .planned),
        S("log_min_messages", .enumeration(["debug5", "debug4", "debug3", "debug2", "debug1", "info", "notice",
            "warning", "error", "log", "fatal", "panic"]), "warning", .session, "logging",
          "Lowest severity logged: debug5…debug1 → trace/debug, info/notice/log → info, warning, error."),
        S("logging_collector", .bool, "off", .restart, "logging", "pgpool log collector.", support: .planned),
        S("log_directory", .string, "/tmp/pgpool_logs", .reload, "logging", "Collector directory.", support: .planned),
        S("log_filename", .string, "pgpool-%Y-%m-%d_%H%M%S.log", .reload, "logging", "Collector file.", support: .planned),
        S("log_file_mode", int(0, 0o777), "0600", .reload, "logging", "Collector file mode.", support: .planned),
        S("log_truncate_on_rotation", .bool, "off", .reload, "logging", "Collector truncation.", support: .planned),
        S("log_rotation_age", S.Kind.integer(min: 0, max: big, unit: .minutes), "1440", .reload, "logging",
          "Collector rotation age.", support: .planned),
        S("log_rotation_size", S.Kind.integer(min: 0, max: big, unit: .kilobytes), "10240", .reload, "logging",
          "Collector rotation size.", support: .planned),
        S("syslog_facility", .string, "LOCAL0", .reload, "logging", "Syslog facility.", support: .planned),
        S("syslog_ident", .string, "pgpool", .reload, "logging", "Syslog ident.", support: .planned),
        S("pid_file_name", .string, "/var/run/pgpool/pgpool.pid", .restart, "files",
          "PID file of the running daemon (relative paths are relative to pgpool.conf's directory)."),
        S("logdir", .string, "/tmp", .restart, "files", "Directory for pgpool_status and, when daemonised, poold.log."),
    ]

    private static let routing: [S] = [
        S("load_balance_mode", .bool, "on", .restart, "routing", "Send reads to a load-balance node chosen per session by backend_weightN (primary included)."),
        S("ignore_leading_white_space", .bool, "on", .reload, "routing", "Ignore leading white space when checking a statement's first character (poold always does)."),
        S("allow_sql_comments", .bool, "off", .session, "routing", "off: a statement starting with a comment is never load balanced (the /*NO LOAD BALANCE*/ trick)."),
        S("disable_load_balance_on_write", .enumeration(["transaction", "trans_transaction", "always", "off",
            "dml_adaptive"]), "transaction", .reload, "routing", "After a write: transaction | trans_transaction | always | off | dml_adaptive keeps later reads on the primary."),
        S("dml_adaptive_object_relationship_list", .list, "", .reload, "routing", "dml_adaptive.", support: .planned),
        S("statement_level_load_balance", .bool, "off", .reload, "routing", "Choose a node per statement.", support: .planned),
        S("read_only_function_list", .list, "", .reload, "routing", "Regexes of functions that do not write (anchored); exclusive with write_function_list.",
          aliases: ["white_function_list"]),
        S("write_function_list", .list, "", .reload, "routing", "Regexes of functions that write (anchored); with both lists empty pg_proc volatility decides.",
          aliases: ["black_function_list"]),
        S("primary_routing_query_pattern_list", .string, "", .reload, "routing", "';'-separated case-insensitive regexes: matching statements go to the primary.", aliases: ["black_query_pattern_list"]),
        S("database_redirect_preference_list", .list, "", .reload, "routing", "database:target(ratio) entries; target is a node id, primary or standby."),
        S("app_name_redirect_preference_list", .list, "", .reload, "routing", "application_name:target(ratio) entries; target is a node id, primary or standby."),
        S("user_redirect_preference_list", .list, "", .reload, "routing", "user:target(ratio) entries; target is a node id, primary or standby."),
        S("check_temp_table", .enumeration(["catalog", "trace", "none", "on", "off"]), "catalog", .reload, "routing",
          "Reads of temporary tables go to the primary: trace follows the session, catalog also asks pg_class."),
        S("check_unlogged_table", .bool, "on", .session, "routing", "Reads of unlogged tables go to the primary (pg_class looked up once per name)."),
        S("relcache_expire", sec(0, big), "0", .restart, "routing", "Relation cache lifetime.", support: .planned),
        S("relcache_size", int(10, big), "256", .restart, "routing", "Relation cache entries.", support: .planned),
        S("relcache_query_target", .enumeration(["primary", "load_balance_node", "master"]), "primary", .reload,
          "routing", "Where relation-cache queries go.", support: .planned),
        S("enable_shared_relcache", .bool, "on", .restart, "routing", "Shared relation cache.", support: .planned),
        S("insert_lock", .bool, "on", .reload, "routing", "Native replication only.", support: .planned),
        S("lobj_lock_table", .string, "", .reload, "routing", "Native replication only.", support: .planned),
        S("replicate_select", .bool, "off", .reload, "routing", "Native replication only.", support: .planned),
        S("replication_stop_on_mismatch", .bool, "off", .reload, "routing", "Native replication only.", support: .planned),
        S("failover_if_affected_tuples_mismatch", .bool, "off", .reload, "routing", "Native replication only.",
          support: .planned),
    ]

    private static let replicationCheck: [S] = [
        S("sr_check_period", sec(0, big), "10", .reload, "replication",
          "Seconds between streaming-replication checks (delay and state of each standby); 0 = off."),
        S("sr_check_user", .string, "nobody", .reload, "replication",
          "User for the replication check and SHOW pool_nodes' pg_role (superuser or pg_monitor)."),
        S("sr_check_password", .string, "", .reload, "replication",
          "Password for sr_check_user (clear, TEXT…, md5… or AES… from poold enc); '' uses its pool_passwd entry.", secret: true),
        S("sr_check_database", .string, "postgres", .reload, "replication", "Database the replication check connects to."),
        S("delay_threshold", S.Kind.integer(min: 0, max: Int.max, unit: .bytes), "0", .reload, "replication",
          "Bytes of lag beyond which a standby gets no reads until it catches up; 0 = no limit."),
        S("delay_threshold_by_time", ms(0, big), "0", .reload, "replication",
          "Lag by time (replay_lag, milliseconds) beyond which a standby gets no reads; > 0 replaces delay_threshold."),
        S("prefer_lower_delay_standby", .bool, "off", .reload, "replication", "At session start, choose among standbys within delay_threshold when one is behind."),
        S("read_your_writes", .bool, "on", .reload, "replication",
          "poold: after a session's write commits, its reads go to a standby only once it has replayed the commit; off = Pgpool-II's behaviour."),
    ]

    private static let health: [S] = [
        S("health_check_period", sec(0, big), "0", .reload, "health_check", "Seconds between health checks; 0 = off; a node failing every attempt is failed over.", indexed: .optional),
        S("health_check_timeout", sec(0, big), "20", .reload, "health_check", "Seconds one health-check login may take (connect and authenticate); 0 = no limit.", indexed: .optional),
        S("health_check_user", .string, "nobody", .reload, "health_check", "User of the health-check login.", indexed: .optional),
        S("health_check_password", .string, "", .reload, "health_check", "Password of health_check_user (clear, TEXT…, md5… or AES…); '' uses its pool_passwd entry.", indexed: .optional, secret: true),
        S("health_check_database", .string, "", .reload, "health_check", "Health check database.", indexed: .optional),
        S("health_check_max_retries", int(0, big), "0", .reload, "health_check", "Retries before failover.", indexed: .optional),
        S("health_check_retry_delay", sec(0, big), "1", .reload, "health_check", "Seconds between retries.", indexed: .optional),
        S("connect_timeout", ms(0, big), "10000", .reload, "health_check", "Backend connect timeout."),
        S("health_check_test", .bool, "off", .restart, "health_check", "Testing only.", support: .planned),
    ]

    private static let failover: [S] = [
        S("failover_command", .string, "", .reload, "failover", "Script run when a node is detached (%d %h %p %D %m %H %M %P %r %R %N %S); share/scripts/failover.sh."),
        S("failback_command", .string, "", .reload, "failover", "Script run when a node is attached (same placeholders)."),
        S("follow_primary_command", .string, "", .reload, "failover", "Script run per other node after the primary changed; share/scripts/follow_primary.sh.", aliases: ["follow_master_command"]),
        S("failover_on_backend_error", .bool, "on", .reload, "failover",
          "On a backend socket error, probe the node and fail it over if it does not answer.",
          aliases: ["fail_over_on_backend_error"]),
        S("failover_on_backend_shutdown", .bool, "off", .reload, "failover", "Fail a node over when a session sees 57P01/57P02 (admin shutdown) from it."),
        S("detach_false_primary", .bool, "off", .reload, "failover", "Detach primaries other than the one chosen (several nodes answer pg_is_in_recovery() = f)."),
        S("search_primary_node_timeout", sec(0, big), "300", .reload, "failover", "Seconds to look for a new primary after the primary failed; 0 = one round."),
        S("auto_failback", .bool, "off", .reload, "failover",
          "Re-attach a down standby that streams from the primary again (needs sr_check_period and application names)."),
        S("auto_failback_interval", sec(0, big), "60", .reload, "failover", "Minimum seconds between auto failbacks of a node."),
    ]

    private static let recovery: [S] = [
        S("recovery_user", .string, "nobody", .reload, "recovery", "User poold logs in as to see the recovered node start."),
        S("recovery_password", .string, "", .reload, "recovery", "Password of recovery_user (clear, TEXT… or AES…); '' uses its pool_passwd entry.", secret: true),
        S("recovery_1st_stage_command", .string, "", .reload, "recovery", "Online recovery script (7 arguments, run by poold); relative to the primary's data directory, or absolute."),
        S("recovery_2nd_stage_command", .string, "", .reload, "recovery", "Second stage script.", support: .planned),
        S("recovery_timeout", sec(0, big), "90", .reload, "recovery", "Seconds to wait for the recovered node."),
        S("client_idle_limit_in_recovery_", .string, "", .reload, "recovery", "unused", support: .planned),
    ].filter { !$0.name.hasSuffix("_") }

    private static func port() -> S.Kind { .integer(min: 1024, max: 65535, unit: .none) }

    /// Pgpool-II 4.6's watchdog parameters (defaults and contexts from `pool_config_variables.c`; the member
    /// and heartbeat lists are restart-only, as the manual says and as both watchdogs read them), then 4.1's
    /// per-host names, which `WatchdogConfiguration` maps onto the same member list.
    private static let watchdog: [S] = [
        S("use_watchdog", .bool, "off", .restart, "watchdog",
          "Run this poold as one member of a watchdog cluster: members elect a leader, which holds delegate_ip."),
        S("hostname", .string, "localhost", .restart, "watchdog",
          "Host (name, IPv4 or IPv6) of watchdog member N; the same list on every member, pgpool_node_id says which is this one.",
          indexed: .required),
        S("wd_port", port(), "9000", .restart, "watchdog", "Watchdog (TCP) port of member N.", indexed: .required),
        S("pgpool_port", port(), "9999", .restart, "watchdog", "Client port (port) of member N.", indexed: .required),
        S("wd_priority", int(0, big), "1", .restart, "watchdog",
          "Leader-election preference: the highest priority wins, then the longest-running member, then the lowest member name."),
        S("wd_authkey", .string, "", .reload, "watchdog",
          "Shared key: every member and heartbeat message carries an HMAC-SHA256 made with it (never the key); '' = none.", secret: true),
        S("wd_ipc_socket_dir", .string, "/tmp", .restart, "watchdog",
          "pgpool: directory of the watchdog IPC socket; poold's admin socket does its job (accepted and ignored).",
          support: .planned),
        S("delegate_ip", .string, "", .restart, "watchdog",
          "Virtual IP held by the leader only ($_IP_$ in the commands below); '' = no virtual IP.", aliases: ["delegate_IP"]),
        S("if_cmd_path", .string, "/sbin", .restart, "watchdog",
          "Directory prefixed to if_up_cmd and if_down_cmd unless they start with '/'."),
        S("if_up_cmd", .string, "/usr/bin/sudo /sbin/ip addr add $_IP_$/24 dev eth0 label eth0:0", .restart, "watchdog",
          "Command the leader runs to bring delegate_ip up; $_IP_$ is replaced by delegate_ip."),
        S("if_down_cmd", .string, "/usr/bin/sudo /sbin/ip addr del $_IP_$/24 dev eth0", .restart, "watchdog",
          "Command run to bring delegate_ip down when leadership ends (step-down, lost quorum, shutdown)."),
        S("arping_path", .string, "/usr/sbin", .restart, "watchdog",
          "Directory prefixed to arping_cmd unless it starts with '/'."),
        S("arping_cmd", .string, "/usr/bin/sudo /usr/sbin/arping -U $_IP_$ -w 1 -I eth0", .restart, "watchdog",
          "Command run after if_up_cmd to announce delegate_ip (gratuitous ARP); $_IP_$ is replaced."),
        S("ping_path", .string, "/bin", .restart, "watchdog",
          "Directory of ping, used to check that delegate_ip answers after if_up_cmd."),
        S("wd_escalation_command", .string, "", .reload, "watchdog",
          "Command run on becoming leader, before if_up_cmd (for example to fence the old leader)."),
        S("wd_de_escalation_command", .string, "", .reload, "watchdog",
          "Command run when leadership ends, before if_down_cmd."),
        S("clear_memqcache_on_escalation", .bool, "on", .reload, "watchdog",
          "Clear the query cache on becoming leader; poold has no query cache yet (accepted and ignored).", support: .planned),
        S("failover_when_quorum_exists", .bool, "on", .restart, "watchdog",
          "With the watchdog, fail a backend over only while the cluster has quorum; otherwise the member quarantines it."),
        S("failover_require_consensus", .bool, "on", .restart, "watchdog",
          "With the watchdog, the leader fails a backend over only when as many members as quorum needs report it down; meanwhile they quarantine it."),
        S("allow_multiple_failover_requests_from_node", .bool, "off", .restart, "watchdog",
          "Count repeated down reports from one member (successive health-check rounds) as further votes."),
        S("enable_consensus_with_half_votes", .bool, "off", .restart, "watchdog",
          "With an even number of members, exactly half is a quorum and enough votes (2 members: 1); availability over split-brain safety."),
        S("wd_remove_shutdown_nodes", .bool, "off", .reload, "watchdog",
          "pgpool: cleanly stopped members leave the quorum count; poold always counts every configured member (accepted and ignored).",
          support: .planned),
        S("wd_lost_node_removal_timeout", sec(0, big), "0", .reload, "watchdog",
          "pgpool: seconds before a LOST member leaves the quorum count; poold always counts every configured member (accepted and ignored).",
          support: .planned),
        S("wd_no_show_node_removal_timeout", sec(0, big), "0", .reload, "watchdog",
          "pgpool: seconds before a never-seen member leaves the quorum count; poold always counts every configured member (accepted and ignored).",
          support: .planned),
        S("wd_monitoring_interfaces_list", .list, "", .restart, "watchdog",
          "Network interfaces to watch ('any' = all but loopback); when every one is down this member is IN NETWORK TROUBLE (VIP down, no votes) and rejoins when one is up (pgpool shuts down instead)."),
        S("wd_lifecheck_method", .enumeration(["heartbeat", "query", "external"]), "heartbeat", .restart, "watchdog",
          "How members see each other alive: heartbeat (UDP packets), query (wd_lifecheck_query through each member's pgpool_port every wd_interval; no heartbeats), external (an agent reports: poolconsole watchdog lifecheck N dead|alive; no heartbeats)."),
        S("wd_interval", sec(0, big), "10", .restart, "watchdog",
          "Seconds between query-mode lifechecks (each has this long to answer) and between trusted_servers checks; at least 1."),
        S("heartbeat_hostname", .string, "", .restart, "watchdog",
          "Address(es) of member N for heartbeats, ';'-separated for several networks; '' = hostnameN.", indexed: .required),
        S("heartbeat_port", port(), "9694", .restart, "watchdog",
          "UDP heartbeat port of member N (this member receives on its own).", indexed: .required),
        S("heartbeat_device", .string, "", .restart, "watchdog",
          "Network device(s) heartbeats to member N leave by, ';'-separated like heartbeat_hostnameN (root only); 4.1: for heartbeat_destinationN.",
          indexed: .required),
        S("wd_heartbeat_keepalive", sec(1, big), "2", .restart, "watchdog",
          "Seconds between heartbeats (and at most between the leader's beacons)."),
        S("wd_heartbeat_deadtime", sec(1, big), "30", .restart, "watchdog",
          "Seconds of silence before a member is LOST; nobody elects before the leader is silent this long, and the leader keeps delegate_ip only while a quorum answered within half of it."),
        S("wd_life_point", int(0, big), "3", .restart, "watchdog", "Failed query-mode lifechecks in a row before a member is LOST (at least 1); one success makes it alive."),
        S("wd_lifecheck_query", .string, "SELECT 1", .restart, "watchdog", "Statement of the query-mode lifecheck."),
        S("wd_lifecheck_dbname", .string, "template1", .reload, "watchdog", "Database of the query-mode lifecheck."),
        S("wd_lifecheck_user", .string, "", .reload, "watchdog", "User of the query-mode lifecheck."),
        S("wd_lifecheck_password", .string, "", .reload, "watchdog",
          "Password of wd_lifecheck_user (clear, TEXT… or AES…); '' uses its pool_passwd entry.", secret: true),
        S("trusted_servers", .list, "", .restart, "watchdog",
          "Hosts checked with trusted_server_command every wd_interval; when none answers, this member is IN NETWORK TROUBLE (VIP down, no votes) until one answers again."),
        S("trusted_server_command", .string, "ping -q -c3 %h", .reload, "watchdog",
          "Command checking one trusted server (%h = the host); exit status 0 = reachable."),
        // Pgpool-II 4.1 and earlier: each host's file names itself and the others. 4.2+ ignores these names
        // ("unrecognized configuration parameter" at INFO level); poold maps them onto the member list.
        S("wd_hostname", .string, "", .restart, "watchdog",
          "4.1 form: this member's host (4.2+: hostnameN with pgpool_node_id)."),
        S("wd_port", S.Kind.integer(min: 1024, max: 65535, unit: .none), "9000", .restart, "watchdog",
          "4.1 form (no number): this member's watchdog port (4.2+: wd_portN)."),
        S("wd_heartbeat_port", port(), "9694", .restart, "watchdog",
          "4.1 form: UDP port this member receives heartbeats on (4.2+: heartbeat_portN)."),
        S("other_pgpool_hostname", .string, "localhost", .restart, "watchdog",
          "4.1 form: host of the other member N (4.2+: hostnameN).", indexed: .required),
        S("other_pgpool_port", port(), "9999", .restart, "watchdog",
          "4.1 form: client port of the other member N (4.2+: pgpool_portN).", indexed: .required),
        S("other_wd_port", port(), "9000", .restart, "watchdog",
          "4.1 form: watchdog port of the other member N (4.2+: wd_portN).", indexed: .required),
        S("heartbeat_destination", .string, "", .restart, "watchdog",
          "4.1 form: an address heartbeats are sent to: another member's host, or one of its addresses (4.2+: heartbeat_hostnameN).",
          indexed: .required),
        S("heartbeat_destination_port", port(), "9694", .restart, "watchdog",
          "4.1 form: UDP port of heartbeat_destinationN (4.2+: heartbeat_portN).", indexed: .required),
    ]

    /// poold's coordination backend for the watchdog (issue 11): leadership, fencing and cluster state taken from
    /// etcd instead of the built-in member vote. Read into `EtcdCoordinationConfiguration`.
    private static let coordination: [S] = [
        S("watchdog_coordination", .enumeration(["watchdog", "etcd"]), "watchdog", .restart, "coordination",
          "poold: how use_watchdog members agree on a leader: watchdog (the built-in vote over wd_port/heartbeats) or etcd (a leader key in etcd; the member list and heartbeat parameters are then unused)."),
        S("etcd_endpoints", .list, "http://127.0.0.1:2379", .restart, "coordination",
          "poold: comma-separated etcd client URLs (http://host:port), tried in turn; every member of the etcd cluster may be listed."),
        S("etcd_prefix", .string, "/poold/default", .restart, "coordination",
          "poold: etcd key prefix of this poold cluster (leader, members/, cluster, proposals/ under it); the same on every member, distinct per cluster."),
        S("etcd_member_name", .string, "", .restart, "coordination",
          "poold: this member's name in etcd (unique in the cluster); '' = host name:port."),
        S("etcd_lease_ttl", sec(2, 3600), "10", .restart, "coordination",
          "poold: seconds of the etcd lease the leader key and member keys are bound to; a dead leader's key goes after at least this long."),
        S("etcd_renew_interval", ms(100, big), "2000", .restart, "coordination",
          "poold: milliseconds between lease keepalives; the leader holds delegate_ip until its last renewal sent + etcd_lease_ttl − etcd_lease_margin."),
        S("etcd_lease_margin", ms(0, big), "0", .restart, "coordination",
          "poold: milliseconds before the lease could end at which the leader stops acting (VIP down, no failover), whatever etcd says; 0 = a quarter of etcd_lease_ttl, at least 1 s."),
        S("etcd_request_timeout", ms(50, big), "1000", .restart, "coordination",
          "poold: milliseconds one etcd request may take on one endpoint before the next endpoint is tried."),
        S("etcd_user", .string, "", .restart, "coordination", "poold: etcd user (authentication); '' = none."),
        S("etcd_password", .string, "", .restart, "coordination", "poold: password of etcd_user.", secret: true),
        S("etcd_ca_file", .string, "", .restart, "coordination",
          "poold: CA certificate for https:// etcd endpoints.", support: .planned),
        S("etcd_cert_file", .string, "", .restart, "coordination",
          "poold: client certificate for https:// etcd endpoints.", support: .planned),
        S("etcd_key_file", .string, "", .restart, "coordination",
          "poold: client key for https:// etcd endpoints.", support: .planned),
    ]

    private static let cache: [S] = [
        ("memory_cache_enabled", S.Kind.bool, "off"), ("memqcache_method", .enumeration(["shmem", "memcached"]), "shmem"),
        ("memqcache_memcached_host", .string, "localhost"), ("memqcache_memcached_port", int(1, 65535), "11211"),
        ("memqcache_total_size", .integer(min: 0, max: Int.max, unit: .bytes), "64MB"),
        ("memqcache_max_num_cache", int(0, big), "1000000"), ("memqcache_expire", sec(0, big), "0"),
        ("memqcache_auto_cache_invalidation", .bool, "on"),
        ("memqcache_maxcache", .integer(min: 0, max: Int.max, unit: .bytes), "400kB"),
        ("memqcache_cache_block_size", .integer(min: 0, max: Int.max, unit: .bytes), "1MB"),
        ("memqcache_oiddir", .string, "/var/log/pgpool/oiddir"),
        ("cache_safe_memqcache_table_list", .list, ""), ("cache_unsafe_memqcache_table_list", .list, ""),
    ].map { S($0.0, $0.1, $0.2, .restart, "query_cache", "In-memory query cache.", support: .planned) }

    /// TLS for clients (`ssl` on: SSLRequest answered 'S', direct TLS with ALPN `postgresql`) and for backends
    /// (`backend_sslmode`). Read into `TLSSettings`; certificate files are re-read on reload.
    private static let tls: [S] = [
        S("ssl", .bool, "off", .reload, "ssl",
          "Accept TLS from clients (SSLRequest answered 'S', and PostgreSQL 17's direct TLS); needs ssl_cert and ssl_key."),
        S("ssl_key", .string, "", .reload, "ssl", "Private key file (PEM) of poold's certificate, relative to the config directory; mode 0600 or less."),
        S("ssl_cert", .string, "", .reload, "ssl", "Certificate chain file (PEM) poold presents to clients."),
        S("ssl_ca_cert", .string, "", .reload, "ssl",
          "CA certificates (PEM) that client certificates must chain to (pool_hba cert, clientcert=); also verifies backends unless backend_sslrootcert is set."),
        S("ssl_ca_cert_dir", .string, "", .reload, "ssl", "A directory of CA certificates in OpenSSL's hashed (c_rehash) form, as ssl_ca_cert."),
        S("ssl_crl_file", .string, "", .reload, "ssl",
          "Certificate revocation list (PEM or DER): client certificates whose serial it lists are refused."),
        S("ssl_ciphers", .string, "HIGH:MEDIUM:+3DES:!aNULL", .reload, "ssl", "TLS 1.2 cipher list in OpenSSL syntax (BoringSSL's subset)."),
        S("ssl_ciphersuites", .string, "", .reload, "ssl",
          "TLS 1.3 suites; BoringSSL always offers its three AEAD suites, so any other value is refused with an error."),
        S("ssl_prefer_server_ciphers", .bool, "off", .reload, "ssl",
          "Prefer poold's cipher order over the client's; BoringSSL on the NIO path follows the client's order (a warning says so when on)."),
        S("ssl_ecdh_curve", .string, "prime256v1", .reload, "ssl",
          "Key-exchange group(s), ':'-separated: prime256v1 (secp256r1), secp384r1, secp521r1, X25519."),
        S("ssl_dh_params_file", .string, "", .reload, "ssl",
          "DH parameters for DHE ciphers; BoringSSL has no DHE suites, so a value only draws a warning."),
        S("ssl_passphrase_command", .string, "", .reload, "ssl",
          "Command whose first output line is the passphrase of an encrypted ssl_key ('%p' = the prompt); run at start and reload."),
        S("ssl_min_protocol_version", .enumeration(["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]), "TLSv1.2", .reload, "ssl",
          "Oldest TLS version accepted from clients (and used to backends)."),
        S("ssl_max_protocol_version", .enumeration(["", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]), "", .reload, "ssl",
          "Newest TLS version; '' = the newest the library has (TLSv1.3)."),
        S("backend_sslmode", .enumeration(["", "disable", "allow", "prefer", "require", "verify-ca", "verify-full"]), "", .reload, "ssl",
          "poold: TLS to backends with libpq's sslmode values; '' = prefer when ssl = on (as Pgpool-II), else allow (plain, TLS when the backend refuses plain). Health checks and probes use it too."),
        S("backend_sslrootcert", .string, "", .reload, "ssl",
          "poold: CA certificates that backends' certificates must chain to for verify-ca/verify-full; '' = ssl_ca_cert / ssl_ca_cert_dir."),
    ]

    /// Lookup by canonical name or alias (case-insensitive). Returns the descriptor and whether an alias was used.
    /// A name may be declared twice, once without and once with a number (4.1's `wd_port` and 4.2's `wd_portN`).
    public static func lookup(_ rawName: String) -> (descriptor: SettingDescriptor, index: Int?, alias: String?)? {
        let name = rawName.lowercased()
        if let d = unindexed[name] { return (d, nil, nil) }
        if let d = unindexedAliases[name] { return (d, nil, name) }
        // strip a numeric suffix for indexed parameters
        let digits = name.reversed().prefix(while: { $0.isNumber })
        guard !digits.isEmpty, digits.count <= 3 else { return nil }
        let base = String(name.dropLast(digits.count))
        guard let index = Int(String(digits.reversed())), index < 128 else { return nil }
        if let d = indexedByName[base] { return (d, index, nil) }
        if let d = indexedAliases[base] { return (d, index, base) }
        return nil
    }

    private static func table(_ descriptors: [SettingDescriptor], aliases: Bool) -> [String: SettingDescriptor] {
        let pairs = descriptors.flatMap { d in (aliases ? d.aliases : [d.name]).map { ($0.lowercased(), d) } }
        return Dictionary(pairs, uniquingKeysWith: { a, _ in a })
    }
    private static let unindexed = table(all.filter { $0.indexed != .required }, aliases: false)
    private static let unindexedAliases = table(all.filter { $0.indexed != .required }, aliases: true)
    private static let indexedByName = table(all.filter { $0.indexed != .no }, aliases: false)
    private static let indexedAliases = table(all.filter { $0.indexed != .no }, aliases: true)
}
