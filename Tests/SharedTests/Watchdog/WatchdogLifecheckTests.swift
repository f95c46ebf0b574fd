import Testing
@testable import Shared

/// `WatchdogLifecheck` driven event by event, the executor played by the test: query checks every `wd_interval`
/// (2 s here) with `wd_life_point` = 3, external reports, trusted servers and monitored links.
@Suite struct WatchdogLifecheckTests {
    typealias LC = WatchdogLifecheck
    typealias SM = WatchdogStateMachine

    static func make(_ method: WatchdogConfiguration.Lifecheck.Method = .query, members: [Int] = [1, 2],
                     trusted: [String] = []) -> LC {
        var lc = LC(configuration: .init(method: method, members: members, interval: .seconds(2), lifePoint: 3,
                                          trustedServers: trusted))
        _ = lc.event(.start, now: .zero)
        return lc
    }

    static func s(_ v: Double) -> Duration { .milliseconds(Int(v * 1000)) }

    // MARK: - query

    @Test func eachMemberIsCheckedEveryIntervalFromOneIntervalAfterTheStart() {
        var lc = Self.make()
        #expect(lc.event(.tick, now: Self.s(1.9)) == [])
        #expect(lc.event(.tick, now: Self.s(2)) == [.query(member: 1), .query(member: 2)])
        #expect(lc.event(.queryFinished(member: 1, ok: true), now: Self.s(2.1)) == [.memberAlive(1, wasSilent: false)])
        #expect(lc.event(.queryFinished(member: 2, ok: true), now: Self.s(2.1)) == [.memberAlive(2, wasSilent: false)])
        #expect(lc.event(.tick, now: Self.s(3.9)) == [])
        #expect(lc.event(.tick, now: Self.s(4)) == [.query(member: 1), .query(member: 2)])
    }

    @Test func lifePointFailuresInARowMakeAMemberSilentAndOneSuccessAliveAgain() {
        var lc = Self.make()
        _ = lc.event(.tick, now: Self.s(0.5))
        for id in [1, 2] {
            _ = lc.event(.tick, now: Self.s(2))
            _ = lc.event(.queryFinished(member: id, ok: true), now: Self.s(2))
        }
        for (i, t) in [4.0, 6, 8].enumerated() {
            #expect(lc.event(.tick, now: Self.s(t)) == [.query(member: 1), .query(member: 2)])
            _ = lc.event(.queryFinished(member: 2, ok: true), now: Self.s(t + 0.1))
            let out = lc.event(.queryFinished(member: 1, ok: false), now: Self.s(t + 0.1))
            #expect(out == (i < 2 ? [] : [.memberSilent(1, failures: 3)]))
        }
        #expect(lc.silentMembers == [1])
        // still checked; further failures say nothing new
        _ = lc.event(.tick, now: Self.s(10))
        #expect(lc.event(.queryFinished(member: 1, ok: false), now: Self.s(10.1)) == [])
        _ = lc.event(.tick, now: Self.s(12))
        #expect(lc.event(.queryFinished(member: 1, ok: true), now: Self.s(12.1)) == [.memberAlive(1, wasSilent: true)])
        #expect(lc.silentMembers == [])
        // the count starts again: two failures are not enough
        for t in [14.0, 16] {
            _ = lc.event(.tick, now: Self.s(t))
            #expect(lc.event(.queryFinished(member: 1, ok: false), now: Self.s(t + 0.1)) == [])
        }
    }

    @Test func aMemberThatNeverAnsweredIsNotDeclaredDead() {
        // members start one after another: a pgpool_port not listening yet is not a lost member
        var lc = Self.make(members: [1])
        for t in stride(from: 2.0, through: 20, by: 2) {
            #expect(lc.event(.tick, now: Self.s(t)) == [.query(member: 1)])
            #expect(lc.event(.queryFinished(member: 1, ok: false), now: Self.s(t + 0.1)) == [])
        }
        #expect(lc.event(.tick, now: Self.s(22)) == [.query(member: 1)])
        #expect(lc.event(.queryFinished(member: 1, ok: true), now: Self.s(22.1)) == [.memberAlive(1, wasSilent: false)])
        for t in [24.0, 26] {
            _ = lc.event(.tick, now: Self.s(t))
            _ = lc.event(.queryFinished(member: 1, ok: false), now: Self.s(t + 0.1))
        }
        _ = lc.event(.tick, now: Self.s(28))
        #expect(lc.event(.queryFinished(member: 1, ok: false), now: Self.s(28.1)) == [.memberSilent(1, failures: 3)])
    }

    @Test func aSuccessBetweenFailuresResetsTheCount() {
        var lc = Self.make(members: [1])
        for (t, ok) in [(2.0, false), (4, false), (6, true), (8, false), (10, false)] {
            _ = lc.event(.tick, now: Self.s(t))
            _ = lc.event(.queryFinished(member: 1, ok: ok), now: Self.s(t + 0.1))
        }
        #expect(lc.silentMembers == [])
    }

    @Test func aCheckStillRunningIsNotStartedAgain() {
        var lc = Self.make(members: [1])
        #expect(lc.event(.tick, now: Self.s(2)) == [.query(member: 1)])
        #expect(lc.event(.tick, now: Self.s(4)) == [])
        #expect(lc.event(.tick, now: Self.s(5)) == [])
        _ = lc.event(.queryFinished(member: 1, ok: false), now: Self.s(5.5))
        #expect(lc.event(.tick, now: Self.s(5.75)) == [.query(member: 1)])
        // a result nobody asked for changes nothing
        #expect(lc.event(.queryFinished(member: 2, ok: false), now: Self.s(5.8)) == [])
    }

    @Test func heartbeatAndExternalModesRunNoQueries() {
        for method in [WatchdogConfiguration.Lifecheck.Method.heartbeat, .external] {
            var lc = Self.make(method)
            for t in stride(from: 0.25, through: 20, by: 0.25) { #expect(lc.event(.tick, now: Self.s(t)) == []) }
        }
    }

    // MARK: - external

    @Test func externalReportsChangeAMemberOnlyInExternalMode() {
        var lc = Self.make(.external)
        #expect(lc.event(.reported(member: 2, alive: false), now: Self.s(1)) == [.memberSilent(2, failures: 0)])
        #expect(lc.event(.reported(member: 2, alive: false), now: Self.s(2)) == [], "already dead")
        #expect(lc.silentMembers == [2])
        #expect(lc.event(.reported(member: 2, alive: true), now: Self.s(3)) == [.memberAlive(2, wasSilent: true)])
        #expect(lc.event(.reported(member: 2, alive: true), now: Self.s(4)) == [], "already alive")
        #expect(lc.event(.reported(member: 7, alive: false), now: Self.s(5)) == [], "not a member")
        var q = Self.make(.query)
        #expect(q.event(.reported(member: 2, alive: false), now: Self.s(1)) == [])
    }

    // MARK: - trusted servers

    @Test func noTrustedServerAnsweringIsNetworkTroubleAndOneAnsweringRestoresIt() {
        var lc = LC(configuration: .init(method: .heartbeat, members: [1], interval: .seconds(2), lifePoint: 3,
                                          trustedServers: ["a", "b"]))
        #expect(lc.event(.start, now: .zero) == [.checkTrustedServer("a"), .checkTrustedServer("b")])
        #expect(lc.event(.trustedServerFinished("a", ok: false), now: Self.s(0.5)) == [])
        #expect(lc.event(.trustedServerFinished("b", ok: true), now: Self.s(0.6)) == [])
        #expect(!lc.inTrouble)
        #expect(lc.event(.tick, now: Self.s(1.9)) == [])
        #expect(lc.event(.tick, now: Self.s(2)) == [.checkTrustedServer("a"), .checkTrustedServer("b")])
        #expect(lc.event(.trustedServerFinished("b", ok: false), now: Self.s(2.5)) == [])
        #expect(lc.event(.trustedServerFinished("a", ok: false), now: Self.s(3)) == [.networkTrouble(.trustedServersUnreachable(["a", "b"]))])
        #expect(lc.inTrouble)
        // a round still running (a slow ping) is not started again
        #expect(lc.event(.tick, now: Self.s(4)) == [.checkTrustedServer("a"), .checkTrustedServer("b")])
        #expect(lc.event(.tick, now: Self.s(6.5)) == [])
        // the first server to answer restores at once; the slow one's result changes nothing
        #expect(lc.event(.trustedServerFinished("a", ok: true), now: Self.s(6.6)) == [.networkRestored])
        #expect(lc.event(.trustedServerFinished("b", ok: false), now: Self.s(7)) == [])
        #expect(!lc.inTrouble)
        #expect(lc.event(.tick, now: Self.s(7.1)) == [.checkTrustedServer("a"), .checkTrustedServer("b")])
    }

    // MARK: - monitored interfaces

    @Test func everyMonitoredLinkDownIsNetworkTroubleAndOneUpRestoresIt() {
        var lc = Self.make(.heartbeat)
        #expect(lc.event(.links(["eth0": true, "eth1": true]), now: Self.s(0.25)) == [])
        #expect(lc.event(.links(["eth0": false, "eth1": true]), now: Self.s(0.5)) == [])
        #expect(lc.event(.links(["eth0": false, "eth1": false]), now: Self.s(0.75)) == [.networkTrouble(.interfacesDown(["eth0", "eth1"]))])
        #expect(lc.event(.links(["eth0": false, "eth1": false]), now: Self.s(1)) == [])
        #expect(lc.event(.links(["eth0": false, "eth1": true]), now: Self.s(1.25)) == [.networkRestored])
        // a listed interface that does not exist counts as down; with none up at start the member starts in trouble
        var fresh = Self.make(.heartbeat)
        #expect(fresh.event(.links(["eth9": false]), now: Self.s(0.25)) == [.networkTrouble(.interfacesDown(["eth9"]))])
    }

    @Test func eitherSourceInTroubleIsTroubleAndALinkBackAsksTheTrustedServersAtOnce() {
        var lc = Self.make(.heartbeat, trusted: ["gw"])
        _ = lc.event(.trustedServerFinished("gw", ok: true), now: Self.s(0.1))
        #expect(lc.event(.links(["eth0": false]), now: Self.s(1)) == [.networkTrouble(.interfacesDown(["eth0"]))])
        _ = lc.event(.tick, now: Self.s(2))
        #expect(lc.event(.trustedServerFinished("gw", ok: false), now: Self.s(3)) == [], "already in trouble")
        // the link is back: the trusted servers are still failed, so they are asked now, not at 4 s
        #expect(lc.event(.links(["eth0": true]), now: Self.s(3.2)) == [.checkTrustedServer("gw")])
        #expect(lc.inTrouble)
        #expect(lc.event(.trustedServerFinished("gw", ok: true), now: Self.s(3.4)) == [.networkRestored])
        // trusted servers failing alone is trouble too, with the link up
        _ = lc.event(.tick, now: Self.s(5.4))
        #expect(lc.event(.trustedServerFinished("gw", ok: false), now: Self.s(5.5)) == [.networkTrouble(.trustedServersUnreachable(["gw"]))])
        #expect(lc.event(.links(["eth0": false]), now: Self.s(5.6)) == [])
        // the link back asks the trusted servers again; until one answers, still in trouble
        #expect(lc.event(.links(["eth0": true]), now: Self.s(5.7)) == [.checkTrustedServer("gw")])
        #expect(lc.inTrouble)
    }

    @Test func queryChecksPauseInTroubleAndEveryMemberIsCheckedWhenRestored() {
        var lc = Self.make()
        #expect(lc.event(.tick, now: Self.s(2)) == [.query(member: 1), .query(member: 2)])
        #expect(lc.event(.links(["eth0": false]), now: Self.s(2.2)) == [.networkTrouble(.interfacesDown(["eth0"]))])
        // failures seen from a member whose own network is down do not count
        for t in [2.3, 4.3, 6.3, 8.3] {
            _ = lc.event(.queryFinished(member: 1, ok: false), now: Self.s(t))
            #expect(lc.event(.tick, now: Self.s(t + 1.7)) == [], "no check while in trouble")
        }
        _ = lc.event(.queryFinished(member: 2, ok: false), now: Self.s(2.4))
        #expect(lc.silentMembers == [])
        #expect(lc.event(.links(["eth0": true]), now: Self.s(11)) == [.networkRestored, .query(member: 1), .query(member: 2)])
    }

    // MARK: - configuration

    @Test func theLifecheckSettingsAreReadAndAQueryLifecheckNeedsAUser() throws {
        typealias C = WatchdogConfigurationTests
        let base = "use_watchdog = on\nhostname0 = 'a'\nhostname1 = 'b'\n"
        let r = C.load(base + """
            wd_lifecheck_method = query
            wd_lifecheck_user = 'lc'
            wd_interval = 3
            wd_life_point = 0
            trusted_servers = 'gw1,gw2'
            wd_monitoring_interfaces_list = 'any'
            """, nodeID: "1")
        #expect(C.errors(r).isEmpty, "\(C.errors(r))")
        let w = try #require(r.configuration.watchdog)
        #expect(w.lifecheck.method == .query && w.lifecheck.user == "lc" && w.lifecheck.monitoringInterfaces == ["any"])
        let c = LC.Configuration(w)
        #expect(c == .init(method: .query, members: [0], interval: .seconds(3), lifePoint: 1, trustedServers: ["gw1", "gw2"]))
        #expect(SM.Configuration(w).heartbeats == false)
        let noUser = C.load(base + "wd_lifecheck_method = query\n", nodeID: "0")
        let e = C.errors(noUser)
        #expect(e.count == 1 && e[0].parameter == "wd_lifecheck_method" && e[0].line == 4, "\(e)")
        let sameCommand = C.load(base + "trusted_servers = 'gw'\ntrusted_server_command = 'true'\n", nodeID: "0")
        #expect(C.warnings(sameCommand).contains { $0.parameter == "trusted_server_command" })
        #expect(SM.Configuration(try #require(sameCommand.configuration.watchdog)).heartbeats)
    }
}
