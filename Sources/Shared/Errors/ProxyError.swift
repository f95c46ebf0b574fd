import NIOCore

/// An error poold reports to a client as an ErrorResponse. The code decides the SQLSTATE and severity;
/// codes can grow without breaking callers (PSQLError pattern).
public struct ProxyError: Error, Equatable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        public let sqlState: String
        public let severity: String
        private init(_ sqlState: String, _ severity: String) {
            self.sqlState = sqlState
            self.severity = severity
        }
        public static let protocolViolation = Code("08P01", "FATAL")
        public static let invalidPassword = Code("28P01", "FATAL")
        public static let invalidAuthorization = Code("28000", "FATAL")
        public static let tooManyConnections = Code("53300", "FATAL")
        public static let connectionFailure = Code("08006", "FATAL")
        public static let cannotConnectNow = Code("57P03", "FATAL")
        public static let adminShutdown = Code("57P01", "FATAL")
        public static let idleTimeout = Code("57P05", "FATAL")
        public static let featureNotSupported = Code("0A000", "ERROR")
        public static let syntaxError = Code("42601", "ERROR")
        public static let undefinedObject = Code("42704", "ERROR")
        public static let cantChangeRuntimeParameter = Code("55P02", "ERROR")
        public static let invalidParameterValue = Code("22023", "ERROR")
        public static let internalError = Code("XX000", "ERROR")
    }

    public var code: Code
    public var message: String
    public var detail: String?
    public var hint: String?

    public init(_ code: Code, _ message: String, detail: String? = nil, hint: String? = nil) {
        self.code = code
        self.message = message
        self.detail = detail
        self.hint = hint
    }

    /// Pgpool-II's error when the `AES…` secret a login needs cannot be decrypted; `method` as Pgpool-II names
    /// it ("md5", "SCRAM", "clear text password").
    public static func undecryptable(method: String) -> ProxyError {
        ProxyError(.invalidPassword, "\(method) authentication failed", detail: PasswordSecret.undecryptableDetail,
                   hint: PasswordSecret.undecryptableHint)
    }

    public var description: String { "\(code.sqlState) \(message)" }

    /// True when the client connection must be closed after the error is sent.
    public var isFatal: Bool { code.severity == "FATAL" || code.severity == "PANIC" }

    public var fields: ErrorFields {
        ErrorFields(severity: code.severity, code: code.sqlState, message: message, detail: detail, hint: hint)
    }

    public var backendMessage: BackendMessage { .errorResponse(fields) }

    public static func protocolViolation(_ what: String) -> ProxyError {
        ProxyError(.protocolViolation, what)
    }
}
