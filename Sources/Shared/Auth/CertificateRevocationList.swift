/// Reads the revoked serial numbers out of an X.509 CRL (`ssl_crl_file`, PEM or DER), so a client
/// certificate it lists is refused. BoringSSL's CRL checking is not reachable through swift-nio-ssl, and the
/// CRL is a local file the operator trusts: poold reads the list, not the signature. A small DER walk
/// (RFC 5280 §5.1) is all it takes:
///
///     CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }
///     TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL, signature SEQUENCE, issuer SEQUENCE,
///         thisUpdate Time, nextUpdate Time OPTIONAL,
///         revokedCertificates SEQUENCE OF SEQUENCE { userCertificate INTEGER, revocationDate Time, … } OPTIONAL,
///         crlExtensions [0] OPTIONAL }
public enum CertificateRevocationList {
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// Serial numbers, big-endian without leading zero bytes (see `normalizedSerial`). Several PEM blocks
    /// (a CRL per CA) are all read.
    public static func revokedSerials(_ bytes: [UInt8]) throws -> [[UInt8]] {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.contains("-----BEGIN X509 CRL-----") else { return try serials(der: bytes) }
        var out: [[UInt8]] = []
        var body: String?
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            if line.hasPrefix("-----BEGIN X509 CRL-----") { body = ""; continue }
            if line.hasPrefix("-----END X509 CRL-----") {
                guard let b = body, let der = Base64.decode(b) else { throw ParseError(description: "invalid base64 in a PEM CRL") }
                out += try serials(der: der)
                body = nil
                continue
            }
            body? += line.trimmingSpaces
        }
        return out
    }

    public static func normalizedSerial<C: Collection>(_ serial: C) -> [UInt8] where C.Element == UInt8 {
        let trimmed = Array(serial.drop { $0 == 0 })
        return trimmed.isEmpty ? [0] : trimmed
    }

    private struct Element {
        var tag: UInt8
        var content: ArraySlice<UInt8>
    }

    /// One TLV at the front of `bytes`; `bytes` moves past it.
    private static func next(_ bytes: inout ArraySlice<UInt8>) throws -> Element {
        guard bytes.count >= 2 else { throw ParseError(description: "truncated DER") }
        let tag = bytes[bytes.startIndex]
        var i = bytes.startIndex + 1
        var length = Int(bytes[i])
        i += 1
        if length & 0x80 != 0 {
            let n = length & 0x7f
            guard n >= 1, n <= 4, bytes.endIndex - i >= n else { throw ParseError(description: "invalid DER length") }
            length = 0
            for _ in 0..<n { length = length << 8 | Int(bytes[i]); i += 1 }
        }
        guard length >= 0, bytes.endIndex - i >= length else { throw ParseError(description: "truncated DER") }
        let content = bytes[i..<(i + length)]
        bytes = bytes[(i + length)...]
        return Element(tag: tag, content: content)
    }

    private static let sequence: UInt8 = 0x30, integer: UInt8 = 0x02

    static func serials(der: [UInt8]) throws -> [[UInt8]] {
        var all = der[...]
        let list = try next(&all)
        guard list.tag == sequence else { throw ParseError(description: "not a DER CRL (no outer SEQUENCE)") }
        var outer = list.content
        let tbs = try next(&outer)
        guard tbs.tag == sequence else { throw ParseError(description: "not a DER CRL (no tbsCertList)") }
        var fields = tbs.content
        var element = try next(&fields)
        if element.tag == integer { element = try next(&fields) }  // version
        guard element.tag == sequence else { throw ParseError(description: "CRL without a signature algorithm") }
        let issuer = try next(&fields)
        guard issuer.tag == sequence else { throw ParseError(description: "CRL without an issuer") }
        _ = try next(&fields)  // thisUpdate
        var out: [[UInt8]] = []
        while !fields.isEmpty {
            let e = try next(&fields)
            // nextUpdate is a UTCTime (0x17) or GeneralizedTime (0x18); extensions are [0] (0xa0).
            guard e.tag == sequence else { continue }
            var entries = e.content
            while !entries.isEmpty {
                let entry = try next(&entries)
                guard entry.tag == sequence else { throw ParseError(description: "invalid revoked-certificate entry") }
                var entryFields = entry.content
                let serial = try next(&entryFields)
                guard serial.tag == integer else { throw ParseError(description: "revoked entry without a serial number") }
                out.append(normalizedSerial(serial.content))
            }
        }
        return out
    }
}
