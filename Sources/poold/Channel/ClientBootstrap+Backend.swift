import NIOCore
import NIOPosix
import Shared

extension ClientBootstrap {
    /// Connects to a backend address as pgpool.conf writes it: a host name or IP, or a Unix socket directory
    /// (a value starting with '/'; empty means /tmp), where the socket is `.s.PGSQL.<port>`.
    func connect(backendHost host: String, port: Int) -> EventLoopFuture<Channel> {
        if host.isEmpty || host.hasPrefix("/") {
            return connect(unixDomainSocketPath: "\(host.isEmpty ? "/tmp" : host)/.s.PGSQL.\(port)")
        }
        return connect(host: host, port: port)
    }
}

extension ChannelHandlerContext {
    /// Encodes and sends one frontend message now.
    func send(_ message: FrontendMessage) {
        var out = channel.allocator.buffer(capacity: 128)
        message.encode(into: &out)
        writeAndFlush(NIOAny(out), promise: nil)
    }
}
