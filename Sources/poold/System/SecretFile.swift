import Foundation
import Shared

/// Reading and writing the files that hold secrets: pool_passwd, pcp.conf and the pool key file. A file that
/// group or others can read is refused (`SecretFileMode`), and it is opened before it is checked, so the file
/// whose mode was checked is the file that is read.
enum SecretFile {
    enum Outcome: Equatable {
        /// No such file.
        case missing
        /// The file exists but must not be used: too open, not a plain file, or unreadable. The text names the file.
        case refused(String)
        case text(String)
    }

    /// - Parameter what: the file's role in messages ("pool_passwd file").
    static func read(_ path: String, what: String) -> Outcome {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return .missing }
            return .refused("could not open \(what) \"\(path)\": \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            return .refused("could not stat \(what) \"\(path)\": \(String(cString: strerror(errno)))")
        }
        guard st.st_mode & S_IFMT == S_IFREG else { return .refused("\(what) \"\(path)\" is not a plain file") }
        if let problem = SecretFileMode.problem(what: what, path: path, mode: UInt32(st.st_mode), ownerIsRoot: st.st_uid == 0) {
            return .refused(problem)
        }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = Foundation.read(fd, &buffer, buffer.count)
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            data += buffer[0..<n]
        }
        return .text(String(decoding: data, as: UTF8.self))
    }

    /// The mode of `path`'s permission bits, or nil when it cannot be stat'ed.
    static func mode(_ path: String) -> UInt32? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt32(st.st_mode) & 0o777 : nil
    }

    /// Rewrites `path` in place with mode 0600 (created so when missing). In place, as pg_enc and pg_md5 do, so a
    /// file owned by the service user stays owned by it when root runs the command.
    static func write(_ path: String, text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw WriteError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        fchmod(fd, 0o600)
        let bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw WriteError(path: path, reason: String(cString: strerror(errno))) }
            done += n
        }
    }

    struct WriteError: Error, CustomStringConvertible {
        var path: String
        var reason: String
        var description: String { "could not write \"\(path)\": \(reason)" }
    }
}
