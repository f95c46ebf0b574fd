import Shared
import Testing

@Suite struct HealthCheckMachineTests {
    let settings = HealthCheckSettings(period: 10, timeout: 20, user: "hc", password: "", database: "postgres",
                                       maxRetries: 2, retryDelay: 1)

    @Test func retriesThenReportsDownOnceAndUpWhenItAnswersAgain() {
        var m = HealthCheckMachine(settings: settings)
        #expect(m.probeFinished(success: true, at: 0, durationMS: 3) == .probe(after: 10))
        #expect(m.probeFinished(success: false, at: 10, durationMS: 20000) == .probe(after: 1), "first retry")
        #expect(m.probeFinished(success: false, at: 31, durationMS: 20000) == .probe(after: 1), "second retry")
        #expect(m.probeFinished(success: false, at: 52, durationMS: 20000) == .reportDown(after: 10))
        #expect(m.believesDown)
        #expect(m.probeFinished(success: false, at: 62, durationMS: 5) == .probe(after: 1))
        #expect(m.probeFinished(success: false, at: 63, durationMS: 5) == .probe(after: 1))
        #expect(m.probeFinished(success: false, at: 64, durationMS: 5) == .probe(after: 10), "down is reported once")
        #expect(m.probeFinished(success: true, at: 74, durationMS: 4) == .reportUp(after: 10))
        #expect(m.stats.total == 4 && m.stats.success == 2 && m.stats.fail == 2 && m.stats.retry == 4 && m.stats.maxRetry == 2)
        #expect(m.stats.minDuration == 3 && m.stats.maxDuration == 20000 && m.stats.lastFailure == 64 && m.stats.lastSuccess == 74)
    }

    @Test func aRetrySuccessEndsTheRoundWithoutFailure() {
        var m = HealthCheckMachine(settings: settings)
        #expect(m.probeFinished(success: false, at: 0, durationMS: 1) == .probe(after: 1))
        #expect(m.probeFinished(success: true, at: 1, durationMS: 1) == .probe(after: 10))
        #expect(m.stats.fail == 0 && m.stats.retry == 1 && !m.believesDown)
        #expect(m.skipped(at: 11) == .probe(after: 10))
        #expect(m.stats.skip == 1 && m.stats.total == 2)
    }

    @Test func noRetriesMeansTheFirstFailureReports() {
        var s = settings
        s.maxRetries = 0
        var m = HealthCheckMachine(settings: s)
        #expect(m.probeFinished(success: false, at: 0, durationMS: 1) == .reportDown(after: 10))
    }
}

@Suite struct FailoverPlaceholderTests {
    let dead = FailoverPlaceholders.Node(id: 0, host: "host0", port: 5432, dataDirectory: "/data/n0")
    let next = FailoverPlaceholders.Node(id: 1, host: "host1", port: 5433, dataDirectory: "/data/n1")

    @Test func expandsEveryPlaceholderAsPgpoolDoes() {
        let p = FailoverPlaceholders(node: dead, newMain: next, oldMainID: 0, oldPrimary: dead)
        #expect(p.expand("failover.sh %d %h %p %D %m %H %M %P %r %R %N %S") ==
                "failover.sh  0 host0  5432 /data/n0  1 host1 0 0 5433 /data/n1 host0 5432")
        #expect(p.expand("100%% %x%") == "100% ", "unknown sequences and a trailing % are dropped")
    }

    @Test func noNewMainGivesMinusOneAndEmptyFields() {
        let p = FailoverPlaceholders(node: dead, newMain: nil, oldMainID: 0, oldPrimary: nil)
        #expect(p.expand("%m|%H|%r|%R|%P|%N|%S") == " -1||||-1||")
    }
}

@Suite struct ClusterStateTests {
    /// A login leased node 0 (primary) and node 2 (load balance) from one view; the view changed before the
    /// backends answered. Each change must send the login back to lease again.
    @Test func aLoginOverlappingADetachFailoverOrSwitchoverIsNotCurrent() {
        var c = ClusterState(nodeIDs: [0, 1, 2], now: 0)
        c.setPrimary(0, now: 0)
        #expect(c.stillServes(primary: 0, loadBalance: 2))
        var detachedStandby = c
        detachedStandby.set(2, .down, now: 1)
        #expect(!detachedStandby.stillServes(primary: 0, loadBalance: 2), "reads would go to a detached node")
        #expect(detachedStandby.stillServes(primary: 0, loadBalance: nil))
        var failedOver = c
        failedOver.set(0, .down, now: 1)
        failedOver.setPrimary(1, now: 1)
        #expect(!failedOver.stillServes(primary: 0, loadBalance: 2), "writes would go to the old primary")
        var switchedOver = c
        switchedOver.setPrimary(1, now: 1)
        #expect(!switchedOver.stillServes(primary: 0, loadBalance: nil), "the old primary is up but a standby now")
        var searching = c
        searching.setPrimary(nil, now: 1)
        #expect(!searching.stillServes(primary: 0, loadBalance: nil))
    }

    @Test func statusChangesBumpTheEpochAndDropThePrimary() {
        var c = ClusterState(nodeIDs: [0, 1, 2], now: 1)
        c.setPrimary(0, now: 1)
        let e = c.epoch
        c.set(0, .down, now: 5)
        #expect(c.primary == nil && c.epoch > e && c.node(0)?.lastStatusChange == 5)
        #expect(c.usableNodes == [1, 2])
        c.set(0, .down, now: 9)
        #expect(c.node(0)?.lastStatusChange == 5, "no change, no new timestamp")
        #expect(c.statusFileText == "down\nup\nup\n")
    }

    @Test func statusFileIsHonouredUnlessItIsBogus() {
        #expect(ClusterState.parseStatusFile("up\ndown\nUP\n") == [.up, .down, .up])
        #expect(ClusterState.parseStatusFile("down\ndown\n") == nil, "no node up: treated as bogus")
        #expect(ClusterState.parseStatusFile("up\nsideways\n") == nil)
        let c = ClusterState(nodeIDs: [0, 1], now: 0, statusFile: [.up, .down])
        #expect(c.status(of: 1) == .down && c.status(of: 0) == .up && c.status(of: 7) == .unused)
    }

    @Test func primarySearchPrefersAlwaysPrimaryThenTheLowestAnsweringPrimary() {
        let b = [0, 1, 2].map { BackendConfig(id: $0, hostname: "h", port: 5432 + $0, weight: 1, dataDirectory: "", flags: [],
                                               applicationName: "") }
        #expect(PrimarySearch.choose(backends: b, usable: [0, 1, 2], answers: [0: true, 1: false, 2: true]) == 1)
        #expect(PrimarySearch.choose(backends: b, usable: [0, 2], answers: [0: true, 2: true]) == nil)
        #expect(PrimarySearch.choose(backends: b, usable: [1, 2], answers: [1: false, 2: false]) == 1)
        #expect(PrimarySearch.falsePrimaries(chosen: 1, usable: [1, 2], answers: [1: false, 2: false]) == [2])
        var fixed = b
        fixed[2].flags = BackendFlags.alwaysPrimary
        #expect(PrimarySearch.choose(backends: fixed, usable: [0, 1, 2], answers: [1: false]) == 2, "no query needed")
    }
}

@Suite struct AutoFailbackTests {
    @Test func aStreamingDownStandbyIsAttachedOncePerInterval() {
        var cluster = ClusterState(nodeIDs: [0, 1, 2], now: 0)
        cluster.setPrimary(0, now: 0)
        cluster.set(1, .down, now: 1)
        cluster.set(2, .down, now: 1)
        let s = [1: StandbyReplication(nodeID: 1, delayBytes: 0, delaySeconds: nil, state: "streaming", syncState: "async"),
                 2: StandbyReplication(nodeID: 2, delayBytes: nil, delaySeconds: nil, state: "", syncState: "")]
        var f = AutoFailback()
        #expect(f.due(s, cluster: cluster, now: 100, interval: 60) == [1], "node 2 does not stream")
        #expect(f.due(s, cluster: cluster, now: 130, interval: 60) == [], "not again within the interval")
        #expect(f.due(s, cluster: cluster, now: 161, interval: 60) == [1])
        cluster.set(1, .up, now: 162)
        #expect(f.due(s, cluster: cluster, now: 300, interval: 60) == [], "an up node is left alone")
    }

    /// A stale pgpool_status marks the real primary down: poold must not take a standby for the primary.
    @Test func onlyStandbysUpMeansNoPrimaryWithAMessageNamingTheDownPrimary() {
        #expect(PrimarySearch.noPrimaryAmongUpNodes(usable: [1, 2], answers: [1: true, 2: true]))
        #expect(!PrimarySearch.noPrimaryAmongUpNodes(usable: [1, 2], answers: [1: true]), "a node that did not answer may be the primary")
        #expect(!PrimarySearch.noPrimaryAmongUpNodes(usable: [0, 1], answers: [0: false, 1: true]))
        #expect(!PrimarySearch.noPrimaryAmongUpNodes(usable: [], answers: [:]))
        let m = PrimarySearch.noPrimaryMessage(downPrimaries: [0])
        #expect(m.message.contains("no primary node is available") && m.detail.contains("node 0 answers as a primary")
                && m.detail.contains("-D") && m.detail.contains("attach 0"))
        #expect(PrimarySearch.noPrimaryMessage(downPrimaries: []).detail.contains("attached or promoted"))
    }
}

/// `%D` / `%R` with no backend_data_directoryN: a warning at --check and start-up, naming file, line and parameter.
@Suite struct EmptyPlaceholderTests {
    @Test func dataDirectoryPlaceholdersWithoutDirectoriesAreWarnedAbout() {
        let result = ConfigParserTests.load("""
            backend_hostname0 = 'a'
            backend_hostname1 = 'b'
            backend_data_directory0 = '/data0'
            follow_master_command = '/s/follow.sh %d %h %p %D %m %H %M %P %r %R'
            failback_command = '/s/fb.sh %d %h'
            """)
        let warnings = result.diagnostics.filter { $0.severity == .warning && $0.parameter == "follow_primary_command" }
        #expect(warnings.count == 1 && warnings.first?.line == 4 && warnings.first?.file == "/etc/pgpool.conf")
        #expect(warnings.first?.message.contains("%D and %R expand to nothing for node 1") == true)
        #expect(!result.diagnostics.contains { $0.parameter == "failback_command" })
        #expect(FailoverPlaceholders.emptyDirectoryWarning("x %D", backends: []) == nil)
    }
}
