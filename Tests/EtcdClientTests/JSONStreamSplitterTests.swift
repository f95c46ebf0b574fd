import Testing
@testable import EtcdClient

/// The watch body cut into messages however the chunks fall: newline-delimited as 3.4 sends it, back to back as
/// older gateways did, split at every byte, with braces and quotes inside strings and multi-byte UTF-8.
@Suite struct JSONStreamSplitterTests {
    static let messages = [
        #"{"result":{"header":{"revision":"1"},"created":true}}"#,
        #"{"result":{"events":[{"kv":{"key":"e30=","value":"\"}{\\"}}]}}"#,  // quotes, braces, a backslash in a string
        #"{"result":{"note":"é → ✓ {[", "n":[1,[2,{}]]}}"#,
    ]

    static func drain(_ s: inout JSONStreamSplitter) throws -> [String] {
        var out: [String] = []
        while let object = try s.next() { out.append(String(decoding: object, as: UTF8.self)) }
        return out
    }

    @Test(arguments: ["\n", "", "\r\n  \t"])
    func wholeBodyAtOnce(delimiter: String) throws {
        var s = JSONStreamSplitter()
        s.append(Array((Self.messages.joined(separator: delimiter) + delimiter).utf8))
        #expect(try Self.drain(&s) == Self.messages)
        #expect(try s.next() == nil)
    }

    @Test func splitAtEveryByte() throws {
        let body = Array((Self.messages.joined(separator: "\n") + "\n").utf8)
        for cut in 0...body.count {
            var s = JSONStreamSplitter()
            s.append(body[..<cut])
            var got = try Self.drain(&s)
            s.append(body[cut...])
            got += try Self.drain(&s)
            #expect(got == Self.messages, "cut at \(cut)")
        }
    }

    @Test func oneByteAtATime() throws {
        var s = JSONStreamSplitter()
        var got: [String] = []
        for byte in Array(Self.messages.joined().utf8) {
            s.append([byte])
            got += try Self.drain(&s)
        }
        #expect(got == Self.messages)
    }

    @Test func eachMessageParses() throws {
        var s = JSONStreamSplitter()
        s.append(Array(Self.messages.joined(separator: "\n").utf8))
        for text in try Self.drain(&s) {
            #expect(try JSON.parse(Array(text.utf8)).isObject)
        }
    }

    @Test func garbageBetweenObjectsThrows() throws {
        var s = JSONStreamSplitter()
        s.append(Array(#"{"a":1}x{"b":2}"#.utf8))
        #expect(try s.next() != nil)
        #expect(throws: JSONStreamSplitter.Failure.unexpectedByte(UInt8(ascii: "x"))) { try s.next() }
    }
}
