import Foundation
import NIOSSL
import Shared

/// The TLS contexts of one configuration load: the server context clients get after 'S' (or a direct
/// ClientHello), and the client context poold uses towards backends. Built from `TLSSettings` at start and on
/// every reload, so new certificate files reach new connections while sessions already running keep the
/// context they began with (NIOSSL holds it per connection). The library is swift-nio-ssl (BoringSSL) on the
/// NIO data path: share/doc/tls.md says why.
final class TLSContexts: Sendable {
    let settings: TLSSettings
    /// nil when `ssl = off`.
    let server: NIOSSLContext?
    /// Serial numbers `ssl_crl_file` revokes (big-endian, without leading zero bytes).
    let revokedSerials: Set<[UInt8]>
    /// Towards backends, when `backend_sslmode` may use TLS.
    let backend: NIOSSLContext?

    struct LoadError: Error, CustomStringConvertible {
        var parameter: String
        var file: String
        var reason: String
        var description: String { "\(parameter) (\(file)): \(reason)" }
    }

    init(settings: TLSSettings) throws {
        self.settings = settings
        if let s = settings.server {
            server = try Self.serverContext(s)
            revokedSerials = try s.crlFile.map { try Self.revokedSerials(file: $0) } ?? []
        } else {
            server = nil
            revokedSerials = []
        }
        backend = settings.backend.mode == .disable ? nil : try Self.backendContext(settings.backend)
    }

    static let disabled: TLSContexts = try! TLSContexts(settings: .disabled)

    private static func version(_ v: TLSSettings.ProtocolVersion) -> TLSVersion {
        switch v {
        case .tls1: return .tlsv1
        case .tls11: return .tlsv11
        case .tls12: return .tlsv12
        case .tls13: return .tlsv13
        }
    }

    private static func curve(_ c: TLSSettings.Curve) -> NIOTLSCurve {
        switch c {
        case .secp256r1: return .secp256r1
        case .secp384r1: return .secp384r1
        case .secp521r1: return .secp521r1
        case .x25519: return .x25519
        }
    }

    private static func serverContext(_ s: TLSSettings.Server) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(s.certificateFile) } catch {
            throw LoadError(parameter: "ssl_cert", file: s.certificateFile, reason: "cannot read the certificate: \(error)")
        }
        guard !chain.isEmpty else { throw LoadError(parameter: "ssl_cert", file: s.certificateFile, reason: "no certificate in the file") }
        let keyBytes = try readKey(s.keyFile)
        let key: NIOSSLPrivateKey
        do {
            if let command = s.passphraseCommand {
                let passphrase = try Self.passphrase(command: command, keyFile: s.keyFile)
                key = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem) { setter in setter(passphrase.utf8) }
            } else {
                key = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem)
            }
        } catch let e as LoadError { throw e } catch {
            throw LoadError(parameter: "ssl_key", file: s.keyFile, reason: "cannot read the private key: \(error)")
        }
        var config = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                              privateKey: .privateKey(key))
        config.minimumTLSVersion = version(s.minimumVersion)
        config.maximumTLSVersion = s.maximumVersion.map(version)
        config.cipherSuites = s.ciphers
        if !s.curves.isEmpty { config.curves = s.curves.map(curve) }
        config.applicationProtocols = [SessionStateMachine.alpn]
        if s.verifiesClientCertificates {
            // A client certificate is asked for and must verify when sent; pool_hba decides whether one is needed.
            config.certificateVerification = .optionalVerification
            config.trustRoots = .file(s.caFile ?? s.caDirectory!)
            if let dir = s.caDirectory, s.caFile != nil { config.additionalTrustRoots = [.file(dir)] }
            config.sendCANameList = true
        }
        do { return try NIOSSLContext(configuration: config) } catch {
            throw LoadError(parameter: "ssl", file: s.certificateFile, reason: "the TLS library refused the settings: \(error)")
        }
    }

    private static func backendContext(_ b: TLSSettings.Backend) throws -> NIOSSLContext {
        var config = TLSConfiguration.makeClientConfiguration()
        config.minimumTLSVersion = version(b.minimumVersion)
        config.maximumTLSVersion = b.maximumVersion.map(version)
        switch b.mode {
        case .verifyFull: config.certificateVerification = .fullVerification
        case .verifyCA: config.certificateVerification = .noHostnameVerification
        case .disable, .allow, .prefer, .require: config.certificateVerification = .none
        }
        if b.mode.verifiesCertificate, let root = b.caFile ?? b.caDirectory { config.trustRoots = .file(root) }
        do { return try NIOSSLContext(configuration: config) } catch {
            throw LoadError(parameter: "backend_sslrootcert", file: b.caFile ?? b.caDirectory ?? "",
                            reason: "the TLS library refused the settings: \(error)")
        }
    }

    /// As PostgreSQL for its server key: the file is opened, then its mode checked (`SecretFile`, so the file
    /// checked is the file read): no group or world access, or group read when root owns it.
    static func readKey(_ path: String) throws -> [UInt8] {
        switch SecretFile.read(path, what: "private key file") {
        case .missing:
            throw LoadError(parameter: "ssl_key", file: path, reason: "cannot read the private key: No such file or directory")
        case .refused(let problem):
            throw LoadError(parameter: "ssl_key", file: path, reason: problem)
        case .text(let text):
            return Array(text.utf8)
        }
    }

    /// Runs `ssl_passphrase_command` (`%p` = a prompt) and takes the first line of its output.
    private static func passphrase(command: String, keyFile: String) throws -> String {
        let prompt = "Enter PEM pass phrase for \(keyFile):"
        var text = ""
        var i = command.startIndex
        while i < command.endIndex {
            let c = command[i]
            let next = command.index(after: i)
            if c == "%", next < command.endIndex {
                if command[next] == "p" { text += "'" + prompt.replacingOccurrences(of: "'", with: "'\\''") + "'" }
                else if command[next] == "%" { text += "%" } else { text.append(c); text.append(command[next]) }
                i = command.index(after: next)
            } else { text.append(c); i = next }
        }
        guard let pipe = popen(text, "r") else {
            throw LoadError(parameter: "ssl_passphrase_command", file: keyFile, reason: "cannot run the command")
        }
        var out = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            let n = fread(&buffer, 1, buffer.count, pipe)
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        let status = pclose(pipe)
        guard status == 0 else {
            throw LoadError(parameter: "ssl_passphrase_command", file: keyFile, reason: "the command exited with status \(status >> 8)")
        }
        return String(decoding: out.prefix { $0 != 10 && $0 != 13 }, as: UTF8.self)
    }

    /// The serial numbers a CRL (PEM or DER) lists.
    private static func revokedSerials(file: String) throws -> Set<[UInt8]> {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw LoadError(parameter: "ssl_crl_file", file: file, reason: "cannot read the file")
        }
        do { return Set(try CertificateRevocationList.revokedSerials(Array(data))) } catch {
            throw LoadError(parameter: "ssl_crl_file", file: file, reason: "\(error)")
        }
    }

    /// A handler for a client that asked for TLS, with this load's server context.
    func makeServerHandler() -> NIOSSLServerHandler? {
        server.map { NIOSSLServerHandler(context: $0) }
    }

    /// Whether a verified client certificate's serial is revoked by ssl_crl_file.
    func isRevoked(_ certificate: NIOSSLCertificate) -> Bool {
        guard !revokedSerials.isEmpty else { return false }
        return revokedSerials.contains(CertificateRevocationList.normalizedSerial(certificate.serialNumber))
    }
}
