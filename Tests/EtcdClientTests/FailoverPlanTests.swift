import Testing
@testable import EtcdClient

/// Which endpoint a request tries next, the pause after a round where every endpoint failed, and where the
/// next request starts.
@Suite struct FailoverPlanTests {
    @Test func startsAtThePreferredEndpointAndGoesRound() {
        var plan = FailoverPlan(endpoints: 3, startingAt: 1)
        #expect(plan.current == 1 && !plan.allTried)
        #expect(plan.next() == (2, .zero))
        #expect(plan.next() == (0, .zero))
        #expect(plan.allTried)
        // every endpoint failed once: the next round starts after a backoff
        #expect(plan.next() == (1, .milliseconds(50)))
        #expect(plan.next() == (2, .zero))
        #expect(plan.next() == (0, .zero))
        #expect(plan.next() == (1, .milliseconds(100)))
    }

    @Test func backoffDoublesUpToTheCap() {
        var plan = FailoverPlan(endpoints: 1, startingAt: 0, backoff: .milliseconds(50), maxBackoff: .milliseconds(300))
        let pauses = (0..<6).map { _ in plan.next().pause }
        #expect(pauses == [.milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(300),
                           .milliseconds(300), .milliseconds(300)])
        #expect(plan.current == 0)
    }

    @Test func startIndexOutOfRangeWraps() {
        #expect(FailoverPlan(endpoints: 3, startingAt: 4).current == 1)
        #expect(FailoverPlan(endpoints: 3, startingAt: -1).current == 2)
    }

    @Test func bookPrefersTheLastThatAnsweredAndMovesOffAFailedOne() {
        let eps = [EtcdEndpoint(host: "a", port: 1), EtcdEndpoint(host: "b", port: 1), EtcdEndpoint(host: "c", port: 1)]
        var book = EndpointBook(endpoints: eps)
        let t0 = ContinuousClock.now
        #expect(book.preferred == 0)
        book.failed(0, .connect("refused"), at: t0)
        #expect(book.preferred == 1)
        #expect(book.states[0].consecutiveFailures == 1 && book.states[0].lastFailure == .connect("refused"))
        book.answered(2, at: t0)
        #expect(book.preferred == 2)
        book.failed(1, .timeout(.seconds(1)), at: t0)
        #expect(book.preferred == 2, "a failure elsewhere does not move the preference")
        book.answered(0, at: t0, prefer: false)
        #expect(book.preferred == 2 && book.states[0].consecutiveFailures == 0 && book.states[0].lastAnswer == t0)
    }

    @Test func unavailableSaysWhatEachEndpointDid() {
        let e = EtcdError.unavailable([EndpointFailure(endpoint: EtcdEndpoint(host: "127.0.0.1", port: 1), error: .connect("refused")),
                                       EndpointFailure(endpoint: EtcdEndpoint(host: "127.0.0.1", port: 2),
                                                       error: .server(code: 14, message: "etcdserver: no leader"))])
        #expect(e.description == "etcd unavailable: http://127.0.0.1:1: could not connect: refused; http://127.0.0.1:2: etcdserver: no leader (gRPC code 14)")
        #expect(!e.failsOver)
    }
}

/// The configuration logs without its password.
@Suite struct ConfigurationTests {
    @Test func descriptionRedactsThePassword() {
        let c = EtcdClient.Configuration(endpoints: [EtcdEndpoint(host: "e1", port: 2379)], user: "root", password: "s3cret")
        #expect(!c.description.contains("s3cret") && !String(reflecting: c).contains("s3cret"))
        #expect(c.description.contains("user=root password=<redacted>"))
    }
}
