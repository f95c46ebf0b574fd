import Foundation
import Testing
@testable import EtcdClient

/// The gateway's JSON both ways: requests as the client writes them, and answers captured from Debian's
/// etcd 3.4.23 (curl against a 3-member loopback cluster) decoded into the public types.
@Suite struct EtcdCodecTests {
    static func text(_ j: JSON) -> String { String(decoding: j.encoded(), as: UTF8.self) }
    static func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }

    // MARK: - Requests

    @Test func putWritesBase64AndInt64AsStrings() {
        let put = EtcdCodec.put(PutRequest(key: Array("/poold/leader".utf8), value: Array("m1".utf8),
                                           lease: 7_587_868_418_523_478_531))
        #expect(Self.text(put) == #"{"key":"\#(Self.b64("/poold/leader"))","lease":"7587868418523478531","value":"bTE="}"#)
        // no lease, no prev_kv: left out, as proto3 JSON does
        #expect(Self.text(EtcdCodec.put(PutRequest(key: [0x61], value: []))) == #"{"key":"YQ==","value":""}"#)
    }

    @Test func leaderKeyTxnIsPatronisPattern() {
        let txn = EtcdCodec.txn(compare: [.createRevision("/p/leader", .equal, 0)],
                                success: [.put("/p/leader", "m1", lease: 42)],
                                failure: [.range("/p/leader")])
        let k = Self.b64("/p/leader")
        #expect(Self.text(txn) == """
            {"compare":[{"create_revision":"0","key":"\(k)","result":"EQUAL","target":"CREATE"}],\
            "failure":[{"request_range":{"key":"\(k)"}}],\
            "success":[{"request_put":{"key":"\(k)","lease":"42","value":"bTE="}}]}
            """)
    }

    @Test(arguments: [
        (Compare.modRevision("k", .equal, 17), #""mod_revision":"17","result":"EQUAL","target":"MOD""#),
        (Compare.version("k", .greater, 2), #""result":"GREATER","target":"VERSION","version":"2""#),
        (Compare.value("k", .notEqual, "me"), #""result":"NOT_EQUAL","target":"VALUE","value":"bWU=""#),
        (Compare.lease("k", .less, 9), #""lease":"9","result":"LESS","target":"LEASE""#),
    ])
    func compareTargets(compare: Compare, fields: String) {
        #expect(Self.text(EtcdCodec.compare(compare)) == #"{"key":"aw==","# + fields + "}")
    }

    @Test func prefixOpsCarryTheRangeEnd() {
        #expect(Self.text(EtcdCodec.requestOp(.range("/a/", prefix: true))) ==
                #"{"request_range":{"key":"L2Ev","range_end":"L2Ew"}}"#)  // "/a/" .. "/a0"
        #expect(Self.text(EtcdCodec.requestOp(.deleteRange("/a/", prefix: true, prevKV: true))) ==
                #"{"request_delete_range":{"key":"L2Ev","prev_kv":true,"range_end":"L2Ew"}}"#)
        #expect(KeyRange.prefixEnd([0x61, 0xff, 0xff]) == [0x62])
        #expect(KeyRange.prefixEnd([0xff]) == [0])
        #expect(KeyRange.prefixEnd([]) == [0])
    }

    @Test func watchAndLeaseRequests() {
        #expect(Self.text(EtcdCodec.watchCreate(key: Array("/w/".utf8), rangeEnd: Array("/w0".utf8), startRevision: 12,
                                                prevKV: true)) ==
                #"{"create_request":{"key":"L3cv","prev_kv":true,"range_end":"L3cw","start_revision":"12"}}"#)
        #expect(Self.text(EtcdCodec.watchCreate(key: [0x78], rangeEnd: nil, startRevision: 0, prevKV: false)) ==
                #"{"create_request":{"key":"eA=="}}"#)
        #expect(Self.text(EtcdCodec.leaseGrant(ttl: 5, id: 0)) == #"{"TTL":"5"}"#)
        #expect(Self.text(EtcdCodec.leaseID(-3)) == #"{"ID":"-3"}"#)
    }

    // MARK: - Answers

    static let header = #""header":{"cluster_id":"3269680269402267162","member_id":"17863245317000647354","revision":"2","raft_term":"2"}"#

    @Test func headerTakesUInt64IDs() throws {
        let h = EtcdCodec.header(try JSON.parse(Array("{\(Self.header)}".utf8))["header"])
        #expect(h == ResponseHeader(clusterID: 3_269_680_269_402_267_162, memberID: 17_863_245_317_000_647_354,
                                    revision: 2, raftTerm: 2))
    }

    @Test func int64FieldsAsStringsOrNumbers() throws {
        let j = try JSON.parse(Array(#"{"a":"9223372036854775807","b":9223372036854775807,"c":"-5","d":7,"e":18446744073709551615,"f":2.0,"g":"x"}"#.utf8))
        #expect(j["a"]?.int64Value == .max)
        #expect(j["b"]?.int64Value == .max)
        #expect(j["c"]?.int64Value == -5)
        #expect(j["d"]?.int64Value == 7)
        #expect(j["e"]?.uint64Value == .max)
        #expect(j["e"]?.int64Value == nil)
        #expect(j["f"]?.int64Value == 2)
        #expect(j["g"]?.int64Value == nil)
    }

    @Test func leaseGrant() throws {
        let j = try JSON.parse(Array(#"{\#(Self.header),"ID":"5961255406214007559","TTL":"5"}"#.utf8))
        let r = try EtcdCodec.leaseGrantResponse(j)
        #expect(r.id == 5_961_255_406_214_007_559 && r.ttl == 5 && r.header.revision == 2)
    }

    @Test func keepAliveIsWrappedInResultAndTTLZeroMeansGone() throws {
        let alive = try JSON.parse(Array(#"{"result":{\#(Self.header),"ID":"12","TTL":"5"}}"#.utf8))
        #expect(try EtcdCodec.keepAliveResponse(alive, lease: 12).ttl == 5)
        // what 3.4.23 answers for a lease that expired: 200 with TTL left out
        let gone = try JSON.parse(Array(#"{"result":{\#(Self.header),"ID":"12345"}}"#.utf8))
        let error = #expect(throws: EtcdError.self) { try EtcdCodec.keepAliveResponse(gone, lease: 12345) }
        #expect(error?.isLeaseNotFound == true)
        #expect(error?.failsOver == false)
    }

    @Test func rangeWithKeyValues() throws {
        let j = try JSON.parse(Array("""
            {\(Self.header),"kvs":[{"key":"L3cvYQ==","create_revision":"2","mod_revision":"3","version":"2",\
            "value":"djE=","lease":"5961255406214007562"}],"count":"1"}
            """.utf8))
        let r = try EtcdCodec.rangeResponse(j)
        #expect(r.count == 1 && !r.more)
        #expect(r.kvs == [KeyValue(key: Array("/w/a".utf8), value: Array("v1".utf8), createRevision: 2, modRevision: 3,
                                   version: 2, lease: 5_961_255_406_214_007_562)])
        #expect(r.kvs[0].keyString == "/w/a" && r.kvs[0].valueString == "v1")
        // an empty range: kvs and count left out
        #expect(try EtcdCodec.rangeResponse(try JSON.parse(Array("{\(Self.header)}".utf8))).kvs.isEmpty)
    }

    @Test func failedTxnLeavesSucceededOutAndReturnsTheHolder() throws {
        let j = try JSON.parse(Array("""
            {\(Self.header),"responses":[{"response_range":{"header":{"revision":"2"},"kvs":[{"key":"L3cvYQ==",\
            "create_revision":"2","mod_revision":"2","version":"1","value":"djE=","lease":"5961255406214007562"}],\
            "count":"1"}}]}
            """.utf8))
        let r = try EtcdCodec.txnResponse(j)
        #expect(!r.succeeded)
        #expect(r.responses.first?.range?.kvs.first?.lease == 5_961_255_406_214_007_562)
        let ok = try EtcdCodec.txnResponse(try JSON.parse(Array(#"{\#(Self.header),"succeeded":true,"responses":[{"response_put":{"header":{"revision":"3"}}},{"response_delete_range":{"header":{},"deleted":"1"}}]}"#.utf8)))
        #expect(ok.succeeded)
        #expect(ok.responses == [.put(PutResponse(header: ResponseHeader(revision: 3), prevKV: nil)),
                                 .deleteRange(DeleteRangeResponse(header: ResponseHeader(), deleted: 1, prevKVs: []))])
    }

    @Test func watchMessages() throws {
        let created = try EtcdCodec.watchMessage(try JSON.parse(Array(#"{"result":{\#(Self.header),"created":true}}"#.utf8)))
        #expect(created.created && created.events.isEmpty && created.header.revision == 2)
        // a PUT has no type field (PUT is 0); a DELETE's kv has only key and mod_revision
        let put = try EtcdCodec.watchMessage(try JSON.parse(Array(#"{"result":{\#(Self.header),"events":[{"kv":{"key":"L3cvYQ==","create_revision":"2","mod_revision":"2","version":"1","value":"djE="}}]}}"#.utf8)))
        #expect(put.events.map(\.type) == [.put] && put.events[0].prevKV == nil)
        let delete = try EtcdCodec.watchMessage(try JSON.parse(Array(#"{"result":{\#(Self.header),"events":[{"type":"DELETE","kv":{"key":"L3cvYQ==","mod_revision":"3"},"prev_kv":{"key":"L3cvYQ==","create_revision":"2","mod_revision":"2","version":"1","value":"djE="}}]}}"#.utf8)))
        #expect(delete.events[0].type == .delete && delete.events[0].kv.modRevision == 3)
        #expect(delete.events[0].prevKV?.valueString == "v1")
        let compacted = try EtcdCodec.watchMessage(try JSON.parse(Array(#"{"result":{"header":{},"canceled":true,"compact_revision":"2"}}"#.utf8)))
        #expect(compacted.canceled && compacted.compactRevision == 2)
        // an error in the stream (the gateway's form for a broken gRPC stream)
        let error = #expect(throws: EtcdError.self) {
            try EtcdCodec.watchMessage(try JSON.parse(Array(#"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}"#.utf8)))
        }
        #expect(error == .server(code: 14, message: "etcdserver: no leader"))
        #expect(error?.failsOver == true)
    }

    @Test func memberListAndStatus() throws {
        let members = try EtcdCodec.memberListResponse(try JSON.parse(Array(#"{"header":{"cluster_id":"1","member_id":"2","raft_term":"2"},"members":[{"ID":"2546113839449138226","name":"m2","peerURLs":["http://127.0.0.1:23895"],"clientURLs":["http://127.0.0.1:23894"]}]}"#.utf8)))
        #expect(members.members == [Member(id: 2_546_113_839_449_138_226, name: "m2", peerURLs: ["http://127.0.0.1:23895"],
                                           clientURLs: ["http://127.0.0.1:23894"], isLearner: false)])
        let status = try EtcdCodec.statusResponse(try JSON.parse(Array(#"{\#(Self.header),"version":"3.4.23","dbSize":"20480","leader":"2546113839449138226","raftIndex":"18","raftTerm":"2","raftAppliedIndex":"18","dbSizeInUse":"16384"}"#.utf8)))
        #expect(status.version == "3.4.23" && status.leader == 2_546_113_839_449_138_226 && status.raftIndex == 18)
    }

    @Test func errorBodies() {
        let notFound = EtcdCodec.errorResponse(status: 404, body: Array(#"{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}"#.utf8))
        #expect(notFound.isLeaseNotFound && !notFound.failsOver)
        let noLeader = EtcdCodec.errorResponse(status: 503, body: Array(#"{"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14}"#.utf8))
        #expect(noLeader.failsOver)
        let token = EtcdCodec.errorResponse(status: 401, body: Array(#"{"error":"etcdserver: invalid auth token","code":16}"#.utf8))
        #expect(token.needsAuthentication && !token.failsOver)
        #expect(EtcdCodec.errorResponse(status: 404, body: Array("404 page not found\n".utf8)) ==
                .http(status: 404, body: "404 page not found\n"))
        #expect(EtcdCodec.errorResponse(status: 502, body: []).failsOver)
        #expect(EtcdError.server(code: 9, message: "etcdserver: leader changed").failsOver)
        #expect(!EtcdError.server(code: 3, message: "etcdserver: key is not provided").failsOver)
        #expect(EtcdError.timeout(.seconds(1)).failsOver && EtcdError.connect("refused").failsOver)
    }

    @Test func garbageIsADecodingError() {
        #expect(throws: EtcdError.self) { try JSON.parse(Array("{not json".utf8)) }
        #expect(throws: EtcdError.self) { try EtcdCodec.keyValue(try JSON.parse(Array(#"{"key":"%%%"}"#.utf8))) }
    }

    @Test(arguments: [("3.4.23", "/v3"), ("3.5.17", "/v3"), ("3.3.27", "/v3beta"), ("3.2.0", "/v3alpha"),
                      ("4.0.0", "/v3"), ("", "/v3")])
    func apiPrefixFromVersion(version: String, prefix: String) {
        #expect(EtcdCodec.apiPrefix(forServerVersion: version) == prefix)
    }

    @Test func endpoints() {
        #expect(EtcdEndpoint("http://127.0.0.1:23790") == EtcdEndpoint(host: "127.0.0.1", port: 23790))
        #expect(EtcdEndpoint("etcd1:2380/") == EtcdEndpoint(host: "etcd1", port: 2380))
        #expect(EtcdEndpoint("etcd1") == EtcdEndpoint(host: "etcd1", port: 2379))
        #expect(EtcdEndpoint("https://[::1]:2379") == EtcdEndpoint(host: "::1", port: 2379, scheme: .https))
        #expect(EtcdEndpoint("https://[::1]:2379")?.description == "https://[::1]:2379")
        #expect(EtcdEndpoint("ftp://x:1") == nil)
        #expect(EtcdEndpoint("x:99999") == nil)
        #expect(EtcdEndpoint("") == nil)
    }
}
