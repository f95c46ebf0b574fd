import Logging
import NIOCore
import NIOPosix
import Shared

/// The watchdog's wire (share/doc/watchdog.md): a TCP control channel (this member listens on its own
/// `hostname:wd_port`; it connects to each other member's, and sends its messages on that connection,
/// length-prefixed) and UDP heartbeats (to each member's `heartbeat_hostname:heartbeat_port`). Every frame is
/// checked — HMAC with `wd_authkey`, the receiver's name, replays — before it reaches the state machine. All of
/// it runs on one event loop, the watchdog's.
final class WatchdogTransport: @unchecked Sendable {
    let loop: EventLoop
    let configuration: WatchdogConfiguration
    let logger: Logger
    /// Called on `loop` with each accepted frame and the sender's member id.
    var deliver: (WatchdogPacket, Int) -> Void = { _, _ in }
    private let session = UInt64.random(in: 1...UInt64.max)
    /// One sequence and one replay window per path: a heartbeat (UDP) overtakes a control frame still queued
    /// while its TCP connection opens, and a shared window would then drop that frame as a replay.
    private var controlSequence: UInt64 = 0
    private var heartbeatSequence: UInt64 = 0
    private var controlReplay = WatchdogReplayWindow()
    private var heartbeatReplay = WatchdogReplayWindow()
    private var links: [Int: PeerLink] = [:]
    private var listeners: [Channel] = []
    private let memberByName: [String: Int]

    init(configuration: WatchdogConfiguration, loop: EventLoop, logger: Logger) {
        self.configuration = configuration
        self.loop = loop
        self.logger = logger
        memberByName = Dictionary(configuration.members.map { ($0.name, $0.id) }, uniquingKeysWith: { a, _ in a })
        for m in configuration.others { links[m.id] = PeerLink(member: m, loop: loop, logger: logger) }
    }

    /// Binds the control port and the heartbeat port on this member's own addresses.
    func start() async throws {
        let local = configuration.local
        let tcp = try await ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ControlReader(transport: self))
                }
            }
            .bind(host: local.hostname, port: local.wdPort).get()
        listeners.append(tcp)
        let udp = try await DatagramBootstrap(group: loop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(HeartbeatReader(transport: self))
                }
            }
            .bind(host: local.hostname, port: local.heartbeatPort).get()
        listeners.append(udp)
        logger.info("watchdog listening", metadata: ["member": "\(local.name)", "heartbeat_port": "\(local.heartbeatPort)"])
    }

    func stop() {
        for l in listeners { l.close(promise: nil) }
        for l in links.values { l.close() }
    }

    private func packet(to member: WatchdogMember, _ body: WatchdogPacket.Body) -> WatchdogPacket {
        let sequence: UInt64
        switch body {
        case .heartbeat:
            heartbeatSequence += 1
            sequence = heartbeatSequence
        case .message:
            controlSequence += 1
            sequence = controlSequence
        }
        return WatchdogPacket(sender: configuration.local.name, receiver: member.name, session: session,
                              sequence: sequence, body: body)
    }

    func send(_ message: WatchdogMessage, to ids: [Int]) {
        for id in ids {
            guard let link = links[id] else { continue }
            link.send(packet(to: link.member, .message(message)).framed(key: configuration.authKey))
        }
    }

    /// One heartbeat datagram to every address of every other member.
    func sendHeartbeats() {
        guard let udp = listeners.last else { return }
        for m in configuration.others {
            let bytes = packet(to: m, .heartbeat).encode(key: configuration.authKey)
            let destinations = m.heartbeatDestinations.isEmpty
                ? [HeartbeatDestination(address: m.hostname, port: m.heartbeatPort)] : m.heartbeatDestinations
            for d in destinations {
                guard let address = try? SocketAddress.makeAddressResolvingHost(d.address, port: d.port) else { continue }
                var buffer = udp.allocator.buffer(capacity: bytes.count)
                buffer.writeBytes(bytes)
                udp.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: buffer), promise: nil)
            }
        }
    }

    /// A frame from the network: accepted only for this member, from a configured member, authentic and new.
    fileprivate func received(_ bytes: [UInt8]) {
        let p: WatchdogPacket
        do { p = try WatchdogPacket.decode(bytes, key: configuration.authKey) } catch {
            logger.warning("watchdog frame rejected", metadata: ["error": "\(error)"])
            return
        }
        guard p.receiver == configuration.local.name, let id = memberByName[p.sender], id != configuration.localID else {
            logger.warning("watchdog frame for another member or from an unknown one",
                           metadata: ["sender": "\(p.sender)", "receiver": "\(p.receiver)"])
            return
        }
        switch p.body {
        case .heartbeat: guard heartbeatReplay.accept(p) else { return }
        case .message: guard controlReplay.accept(p) else { return }
        }
        deliver(p, id)
    }

    /// Reads length-prefixed frames from a member's control connection.
    private final class ControlReader: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let transport: WatchdogTransport
        var buffer = ByteBuffer()
        init(transport: WatchdogTransport) { self.transport = transport }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            buffer.writeBuffer(&incoming)
            while let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) {
                guard length > 0, length < 4096 else {
                    transport.logger.warning("watchdog control connection sent a bad frame length; closing it")
                    context.close(promise: nil)
                    return
                }
                guard buffer.readableBytes >= 4 + Int(length) else { break }
                buffer.moveReaderIndex(forwardBy: 4)
                transport.received(buffer.readBytes(length: Int(length))!)
            }
            buffer.discardReadBytes()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
    }

    private final class HeartbeatReader: ChannelInboundHandler {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let transport: WatchdogTransport
        init(transport: WatchdogTransport) { self.transport = transport }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var envelope = unwrapInboundIn(data)
            guard let bytes = envelope.data.readBytes(length: envelope.data.readableBytes) else { return }
            transport.received(bytes)
        }
    }
}

/// This member's outgoing control connection to another member: connected on demand, messages sent while
/// it connects are queued (a few; the state machine resends what matters), a broken one is reopened by the
/// next send.
private final class PeerLink {
    let member: WatchdogMember
    let loop: EventLoop
    let logger: Logger
    private var channel: Channel?
    private var connecting = false
    private var queued: [[UInt8]] = []

    init(member: WatchdogMember, loop: EventLoop, logger: Logger) {
        self.member = member
        self.loop = loop
        self.logger = logger
    }

    func send(_ frame: [UInt8]) {
        if let channel, channel.isActive {
            var b = channel.allocator.buffer(capacity: frame.count)
            b.writeBytes(frame)
            channel.writeAndFlush(b, promise: nil)
            return
        }
        queued.append(frame)
        if queued.count > 8 { queued.removeFirst(queued.count - 8) }
        connect()
    }

    private func connect() {
        guard !connecting else { return }
        connecting = true
        let loopBound = NIOLoopBound(self, eventLoop: loop)
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(1))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: member.hostname, port: member.wdPort)
            .whenComplete { result in
                let link = loopBound.value
                link.connecting = false
                switch result {
                case .success(let ch):
                    link.channel = ch
                    ch.closeFuture.whenComplete { _ in loopBound.value.channel = nil }
                    let frames = link.queued
                    link.queued.removeAll()
                    for f in frames { link.send(f) }
                case .failure(let error):
                    link.queued.removeAll()
                    link.logger.debug("watchdog member unreachable", metadata: ["member": "\(link.member.name)", "error": "\(error)"])
                }
            }
    }

    func close() { channel?.close(promise: nil) }
}
