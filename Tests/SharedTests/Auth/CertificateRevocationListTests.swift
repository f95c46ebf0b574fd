import Testing
@testable import Shared

/// ssl_crl_file's reader on CRLs made by `openssl ca -gencrl` (serials 0x0A and 0xFF10 revoked; and one with none).
@Suite struct CertificateRevocationListTests {
    static let twoRevokedDER = "MIHQMHcCAQEwCgYIKoZIzj0EAwIwDDEKMAgGA1UEAwwBdhcNMjYxMjAyMDkxNzEyWhcNMzYxMTI5MDkxNzEyWjAqMBICAQoXDTI2MTIwMjA5MTcxMlowFAIDAP8QFw0yNjEyMDIwOTE3MTJaoA4wDDAKBgNVHRQEAwIBATAKBggqhkjOPQQDAgNJADBGAiEA8A7bGJObiEZGGSKNHzkKZIhomEe9jH5Hp8GJQmPrNQwCIQCsAyL8C6CbbcWSCCAgt8dZLI/e9E9tmBYQLG5urKA2vg=="
    static let noneRevokedDER = "MIGjMEsCAQEwCgYIKoZIzj0EAwIwDDEKMAgGA1UEAwwBdhcNMjYxMjAyMDkxNzE2WhcNMzYxMTI5MDkxNzE2WqAOMAwwCgYDVR0UBAMCAQEwCgYIKoZIzj0EAwIDSAAwRQIgOokmGO/GwbWVgsE4NMS8TH5QpzlnNLjIVafootucobwCIQDNGnxOh88NVmAoPY2uGwQFyx7VmAFPXnwCRb1DGz6X+Q=="

    @Test func derAndPemGiveTheRevokedSerialsWithoutLeadingZeros() throws {
        let der = try #require(Base64.decode(Self.twoRevokedDER))
        #expect(try CertificateRevocationList.revokedSerials(der) == [[0x0A], [0xFF, 0x10]])
        var pem = "-----BEGIN X509 CRL-----\n"
        var body = Substring(Self.twoRevokedDER)
        while !body.isEmpty { pem += body.prefix(64) + "\n"; body = body.dropFirst(64) }
        pem += "-----END X509 CRL-----\n"
        #expect(try CertificateRevocationList.revokedSerials(Array(pem.utf8)) == [[0x0A], [0xFF, 0x10]])
        // A certificate's serial as BoringSSL gives it (DER INTEGER content, with its sign byte) matches.
        #expect(CertificateRevocationList.normalizedSerial([0x00, 0xFF, 0x10]) == [0xFF, 0x10])
    }

    @Test func aCRLWithoutEntriesRevokesNothing() throws {
        let der = try #require(Base64.decode(Self.noneRevokedDER))
        #expect(try CertificateRevocationList.revokedSerials(der).isEmpty)
    }

    @Test func truncatedOrForeignBytesAreErrorsNotCrashes() throws {
        let der = try #require(Base64.decode(Self.twoRevokedDER))
        for cut in stride(from: 0, to: der.count - 1, by: 7) {
            // Every prefix either parses (the signature part is not read) or throws.
            _ = try? CertificateRevocationList.revokedSerials(Array(der.prefix(cut)))
        }
        #expect(throws: CertificateRevocationList.ParseError.self) { try CertificateRevocationList.revokedSerials(Array(der.prefix(40))) }
        #expect(throws: CertificateRevocationList.ParseError.self) { try CertificateRevocationList.revokedSerials(Array("not a crl".utf8)) }
        #expect(throws: CertificateRevocationList.ParseError.self) {
            try CertificateRevocationList.revokedSerials(Array("-----BEGIN X509 CRL-----\n!!!\n-----END X509 CRL-----\n".utf8))
        }
    }
}
