import NIOCore
import NIOPosix
import StoreFormats
import Synchronization

/// One TCP connection to a sheep daemon. Requests are written as they come, several in flight at
/// once (the protocol answers each by its id, in any order); each waits at most `timeout` for its
/// answer, after which the connection is closed (its other requests fail too: a daemon that
/// stopped answering one stopped answering all) and a new one is made for the next request.
final class SheepConnection: Sendable {
    private let channel: any Channel
    private let dispatch: SheepDispatch
    private let nextID = Mutex<UInt32>(1)

    private init(channel: any Channel, dispatch: SheepDispatch) {
        self.channel = channel
        self.dispatch = dispatch
    }

    var isActive: Bool { channel.isActive }

    static func connect(host: String, port: Int, timeout: Duration) async throws(StoreError) -> SheepConnection {
        let dispatch = SheepDispatch()
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SheepResponseDecoder()))
                        try channel.pipeline.syncOperations.addHandler(dispatch)
                    }
                }
                .connect(host: host, port: port).get()
            return SheepConnection(channel: channel, dispatch: dispatch)
        } catch {
            throw HTTPClients.map(error, what: "connecting to the sheep daemon at \(host):\(port)")
        }
    }

    /// The answer's header and data. A result other than success is the caller's to judge.
    func send(_ request: SheepWire.Request, data: [UInt8] = [], timeout: Duration) async throws(StoreError) -> (SheepWire.Response, ByteBuffer) {
        var request = request
        request.id = nextID.withLock { id in defer { id &+= 1 }; return id }
        var buffer = channel.allocator.buffer(capacity: SheepWire.headerSize + data.count)
        buffer.writeBytes(request.bytes)
        buffer.writeBytes(data)
        let promise = channel.eventLoop.makePromise(of: (SheepWire.Response, ByteBuffer).self)
        let id = request.id, channel = self.channel, dispatch = self.dispatch
        channel.eventLoop.execute {
            dispatch.expect(id, promise)
            channel.writeAndFlush(buffer).whenFailure { promise.fail($0) }
        }
        let deadline = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)) {
            promise.fail(StoreError.timedOut("the sheep daemon did not answer within \(timeout)"))
            channel.close(promise: nil)
        }
        do {
            let answer = try await promise.futureResult.get()
            deadline.cancel()
            return answer
        } catch {
            deadline.cancel()
            throw HTTPClients.map(error, what: "a request to the sheep daemon")
        }
    }

    func close() { channel.close(promise: nil) }
}

/// A response: the 48-byte header, then `data_length` bytes.
struct SheepResponseDecoder: ByteToMessageDecoder {
    typealias InboundOut = (SheepWire.Response, ByteBuffer)
    static let largestAnswer = 64 << 20

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes >= SheepWire.headerSize,
              let header = buffer.getBytes(at: buffer.readerIndex, length: SheepWire.headerSize),
              let response = SheepWire.Response(header) else { return .needMoreData }
        // No request of ours is answered with more (objects are 4 MiB, a bitmap 2 MiB): a daemon
        // announcing gigabytes would have this connection buffer them.
        guard response.dataLength <= Self.largestAnswer else {
            throw StoreError.backend("the sheep daemon announced an answer of \(response.dataLength) bytes")
        }
        guard buffer.readableBytes >= SheepWire.headerSize + response.dataLength else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: SheepWire.headerSize)
        let data = buffer.readSlice(length: response.dataLength)!
        context.fireChannelRead(wrapInboundOut((response, data)))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}

/// The requests waiting for their answer, by id. Touched only on the channel's event loop.
final class SheepDispatch: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = (SheepWire.Response, ByteBuffer)
    private var pending: [UInt32: EventLoopPromise<(SheepWire.Response, ByteBuffer)>] = [:]
    private var closed = false

    func expect(_ id: UInt32, _ promise: EventLoopPromise<(SheepWire.Response, ByteBuffer)>) {
        if closed {
            promise.fail(StoreError.unreachable("the connection to the sheep daemon is closed"))
        } else {
            pending[id] = promise
            promise.futureResult.whenComplete { [weak self] _ in self?.pending[id] = nil }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let (response, body) = unwrapInboundIn(data)
        pending.removeValue(forKey: response.id)?.succeed((response, body))
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(StoreError.unreachable("the sheep daemon closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    private func fail(_ error: any Error) {
        closed = true
        let waiting = pending
        pending = [:]
        for promise in waiting.values { promise.fail(error) }
    }
}
