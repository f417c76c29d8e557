import NIOCore
import Synchronization

/// A request body fed as the data arrives: the writer `send`s buffers, the HTTP client pulls them.
/// At most `limit` bytes wait in between; a sender beyond that waits for the client to take them
/// (the memory bound of an upload). `close(error)` ends it from the client's side (the request
/// failed): a waiting or later sender gets the error instead of waiting forever. `idle(for:)` tells
/// a client that stopped taking the body (a server that stopped reading) from a writer that is only
/// slow to produce.
final class BodyChannel: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let limit: Int
    private let state = Mutex(State())

    private struct State {
        var queue: [ByteBuffer] = []
        var head = 0
        var queued = 0
        var finished = false
        var closed: (any Error)?
        var consumer: CheckedContinuation<ByteBuffer?, Never>?
        var producer: CheckedContinuation<Void, any Error>?
        /// When the client last came for more, and whether it was told the body ended.
        var lastPull = ContinuousClock.now
        var ended = false
    }

    /// The body is not over, the client is not waiting for more (it is stuck sending what it took,
    /// or never started), and it has not come for more for `duration`.
    func idle(for duration: Duration) -> Bool {
        state.withLock { s in
            !s.ended && s.closed == nil && s.consumer == nil && ContinuousClock.now - s.lastPull > duration
        }
    }

    struct Closed: Error {}

    init(limit: Int) { self.limit = limit }

    func send(_ buffer: ByteBuffer) async throws {
        guard buffer.readableBytes > 0 else { return }
        let resume: CheckedContinuation<ByteBuffer?, Never>? = try state.withLock { s in
            if let error = s.closed { throw error }
            if let consumer = s.consumer {
                s.consumer = nil
                return consumer
            }
            s.queue.append(buffer)
            s.queued += buffer.readableBytes
            return nil
        }
        if let resume { resume.resume(returning: buffer); return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let now: Result<Void, any Error>? = state.withLock { s in
                if let error = s.closed { return .failure(error) }
                if s.queued <= limit { return .success(()) }
                s.producer = continuation
                return nil
            }
            if let now { continuation.resume(with: now) }
        }
    }

    /// The body is complete.
    func finish() {
        let consumer = state.withLock { s in
            s.finished = true
            defer { s.consumer = nil }
            if s.queued == 0 && s.consumer != nil { s.ended = true }
            return s.queued == 0 ? s.consumer : nil
        }
        consumer?.resume(returning: nil)
    }

    /// The request is over (failed, or answered before taking everything): senders stop.
    func close(_ error: any Error = Closed()) {
        let (producer, consumer) = state.withLock { s in
            if s.closed == nil { s.closed = error }
            s.queue.removeAll()
            s.head = 0
            s.queued = 0
            defer { s.producer = nil; s.consumer = nil }
            return (s.producer, s.consumer)
        }
        producer?.resume(throwing: error)
        consumer?.resume(returning: nil)
    }

    private func next() async -> ByteBuffer? {
        await withCheckedContinuation { (continuation: CheckedContinuation<ByteBuffer?, Never>) in
            let (value, ready, producer): (ByteBuffer?, Bool, CheckedContinuation<Void, any Error>?) = state.withLock { s in
                s.lastPull = .now
                if s.head < s.queue.count {
                    let buffer = s.queue[s.head]
                    s.head += 1
                    s.queued -= buffer.readableBytes
                    if s.head == s.queue.count { s.queue.removeAll(keepingCapacity: true); s.head = 0 }
                    var producer: CheckedContinuation<Void, any Error>?
                    if s.queued <= limit { producer = s.producer; s.producer = nil }
                    return (buffer, true, producer)
                }
                if s.finished || s.closed != nil {
                    s.ended = true
                    return (nil, true, nil)
                }
                s.consumer = continuation
                return (nil, false, nil)
            }
            producer?.resume()
            if ready { continuation.resume(returning: value) }
        }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let channel: BodyChannel
        mutating func next() async -> ByteBuffer? { await channel.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(channel: self) }
}
