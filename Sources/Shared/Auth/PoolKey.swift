import Crypto

/// Pgpool-II's pool key: the passphrase that `AES…` pool_passwd entries and password settings are encrypted
/// with. It is the first line of the key file (`-k`, `$PGPOOLKEYFILE`, `~/.pgpoolkey`). Kept as a value of its
/// own so that printing it, like printing a `PasswordSecret`, only ever says `<redacted>`.
public struct PoolKey: Equatable, Sendable {
    public let passphrase: String

    public init(_ passphrase: String) { self.passphrase = passphrase }

    /// The key file's first line without its newline, as Pgpool-II's read_pool_key; nil when the file is empty or
    /// that line is (an empty key would encrypt nothing worth the name).
    public init?(keyFileText text: String) {
        guard let first = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first,
              !first.isEmpty else { return nil }
        self.passphrase = String(first)
    }

    /// AES-256-CBC key and IV as OpenSSL's `EVP_BytesToKey(EVP_aes_256_cbc(), EVP_sha1(), NULL, key, len, 1)`:
    /// D1 = SHA1(key), Dn = SHA1(Dn-1 ‖ key); key = the first 32 bytes of D1‖D2‖D3, IV = the next 16.
    public var derived: (key: [UInt8], iv: [UInt8]) { Self.bytesToKey(Array(passphrase.utf8)) }

    public static func bytesToKey(_ data: [UInt8], keyLength: Int = 32, ivLength: Int = 16) -> (key: [UInt8], iv: [UInt8]) {
        var out: [UInt8] = []
        var previous: [UInt8] = []
        while out.count < keyLength + ivLength {
            previous = Array(Insecure.SHA1.hash(data: previous + data))
            out += previous
        }
        return (Array(out[0..<keyLength]), Array(out[keyLength..<keyLength + ivLength]))
    }
}

extension PoolKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
