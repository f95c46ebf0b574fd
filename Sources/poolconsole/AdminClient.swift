import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A blocking client for poold's admin socket (JSON lines, protocol version 1), shared by the commands and
/// the console.
final class AdminClient {
    struct Failure: Error, CustomStringConvertible {
        var description: String
        /// The server answered with ok:false (as opposed to: could not reach it).
        var fromServer: Bool
    }

    private let fd: Int32
    private var pending = Data()

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "cannot create a socket", fromServer: false) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd)
            throw Failure(description: "socket path too long: \(path)", fromServer: false)
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "cannot connect to poold's admin socket \(path): \(reason)", fromServer: false)
        }
    }

    deinit { close(fd) }

    /// Sends one request and returns its `result`; throws with the server's error when ok is false.
    func request(_ command: String, _ arguments: [String: Any] = [:]) throws -> Any {
        var object = arguments
        object["command"] = command
        object["version"] = 1
        var data = try JSONSerialization.data(withJSONObject: object)
        data.append(UInt8(ascii: "\n"))
        let sent = data.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == data.count else { throw Failure(description: "cannot send to poold", fromServer: false) }
        guard let line = try readLine() else { throw Failure(description: "poold closed the admin connection", fromServer: false) }
        guard let reply = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw Failure(description: "invalid answer from poold: \(line)", fromServer: false)
        }
        guard reply["ok"] as? Bool == true else {
            throw Failure(description: reply["error"] as? String ?? "unknown error", fromServer: true)
        }
        return reply["result"] ?? NSNull()
    }

    /// The next line from the socket (events after `subscribe`), nil at end of stream.
    func readLine() throws -> String? {
        while true {
            if let i = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[pending.startIndex..<i], as: UTF8.self)
                pending = Data(pending[(i + 1)...])
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return nil }
            pending.append(contentsOf: chunk[0..<n])
        }
    }
}
