import NIOCore
import NIOSSL
import Shared

/// TLS towards the client: after 'S' to an SSLRequest, or at once when the connection opens with a ClientHello
/// (PostgreSQL 17's direct TLS). A NIOSSL server handler goes in front of the session; the session then reads
/// plain text as before, and `SessionStateMachine` learns of the handshake (ALPN, client certificate) from
/// `tlsHandshakeCompleted`.
extension ClientSession {
    func startTLS(direct: Bool) {
        guard let context, let handler = tls.makeServerHandler() else { return protocolViolation("TLS is not available") }
        // Bytes after an SSLRequest but before the handshake were sent in plain text by someone who did not
        // wait for 'S': they must not be read as if they came through TLS (CVE-2021-23222's lesson).
        if !direct, cumulation.readableBytes > 0 {
            return protocolViolation("received unencrypted data after SSL request")
        }
        let early = cumulation
        cumulation = ByteBuffer()
        do {
            if !direct {
                var out = context.channel.allocator.buffer(capacity: 1)
                out.writeInteger(UInt8(ascii: "S"))
                context.writeAndFlush(wrapOutboundOut(out), promise: nil)
            }
            try context.pipeline.syncOperations.addHandler(handler, position: .before(self))
            // The ClientHello read so far goes through the TLS handler, which is ahead of this one.
            if direct { context.pipeline.syncOperations.fireChannelRead(NIOAny(early)) }
        } catch {
            logger.info("TLS could not start", metadata: ["client_id": "\(id)", "error": "\(error)"])
            phase = .closed
            context.close(promise: nil)
        }
    }

    func tlsHandshakeCompleted(context: ChannelHandlerContext, applicationProtocol: String?) {
        guard case .negotiating = phase else { return }
        var commonName: String?
        if tls.settings.server?.verifiesClientCertificates == true,
           let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
           let certificate = handler.peerCertificate {
            if tls.isRevoked(certificate) {
                logger.info("client certificate revoked by ssl_crl_file", metadata: ["client_id": "\(id)"])
                return sendAndClose(ProxyError(.invalidAuthorization, "certificate revoked").fields)
            }
            commonName = certificate.subjectName.last(where: { $0.type == .commonName })?.value
        }
        loginEvent { $0.tlsEstablished(ClientTLSInfo(applicationProtocol: applicationProtocol, certificateCommonName: commonName)) }
    }
}
