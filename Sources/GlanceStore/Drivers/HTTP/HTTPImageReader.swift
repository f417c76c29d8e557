import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization

/// Reads an image with Range requests in aligned chunks (ReadAhead does the windowing), kept as
/// the network's buffers: no copy here, the FUSE reply hands them to the kernel as they are.
///
/// A server that ignores Range (200 for a ranged GET past 0) is read through one streaming GET
/// from the start instead: chunks are cut from the body as it arrives, and only a read behind the
/// stream's position starts it again.
final class HTTPImageReader: BufferedImageReader {
    let url: String
    let size: UInt64
    private let body: WholeBody
    private let chunks: ReadAhead

    static let chunkSize: UInt64 = 4 << 20
    static let readAhead: UInt64 = 6

    init(url: String, size: UInt64, connection: HTTPConnection, meters: StoreMeters) {
        self.url = url
        self.size = size
        let body = WholeBody(url: url, connection: connection, chunkSize: Self.chunkSize, keep: Int(Self.readAhead) + 1)
        let source = ChunkSource(url: url, size: size, connection: connection, body: body)
        self.body = body
        chunks = ReadAhead(size: size, chunkSize: Self.chunkSize, depth: Self.readAhead, describe: URLText.redacted(url), meters: meters) {
            start, length, _ in source.fetch(start, length)
        }
    }

    func readBuffers(at offset: UInt64, count: Int) async throws(StoreError) -> ImageBytes {
        try await chunks.read(at: offset, count: count)
    }

    func close() async {
        chunks.close()
        await body.stop()
    }
}

/// Fetches one chunk or a random read's bytes: a Range GET, or a cut of the streaming body once the
/// server showed it ignores Range. Lock order: ReadAhead's lock, then this one (fetches start under ReadAhead's).
private final class ChunkSource: Sendable {
    let url: String
    let size: UInt64
    let connection: HTTPConnection
    let body: WholeBody
    private let stream = Mutex(StreamState())

    private struct StreamState {
        var rangesIgnored = false
        /// Streamed chunks are cut one after the other from one body: each waits for the one before.
        var tail: Task<ImageBytes, any Error>?
    }

    init(url: String, size: UInt64, connection: HTTPConnection, body: WholeBody) {
        self.url = url
        self.size = size
        self.connection = connection
        self.body = body
    }

    func fetch(_ start: UInt64, _ length: Int) -> Task<ImageBytes, any Error> {
        let end = start + UInt64(length) - 1
        if let streamed = stream.withLock({ s in s.rangesIgnored ? streamed(start...end, &s) : nil }) { return streamed }
        let url = self.url, connection = self.connection
        return Task {
            let reply = try await connection.fetch(url, range: start...end)
            switch reply.status {
            case 206: return reply.data
            case 200 where start == 0:
                // The body starts at 0 either way; a 200 for less than the whole image says Range
                // is ignored (a copy's first read asks for the first chunk: the rest is streamed).
                if end + 1 < size { stream.withLock { $0.rangesIgnored = true } }
                return reply.data
            case 200:
                // Range ignored: from now on this image is read from one streaming body.
                let task = stream.withLock { s in
                    s.rangesIgnored = true
                    return streamed(start...end, &s)
                }
                return try await task.value
            case 404, 410: throw StoreError.notFound(image: URLText.redacted(url))
            default: throw StoreError.remoteServiceUnavailable("\(URLText.redacted(url)): HTTP \(reply.status)")
            }
        }
    }

    private func streamed(_ range: ClosedRange<UInt64>, _ s: inout StreamState) -> Task<ImageBytes, any Error> {
        let previous = s.tail, body = self.body
        let task = Task {
            _ = await previous?.result
            return try await body.cut(range)
        }
        s.tail = task
        return task
    }
}

/// One GET without Range, read forward: for servers that ignore Range. Calls are serialized by
/// the reader (each waits for the previous), so the body's iterator is never used concurrently.
/// They may come in any order within the read-ahead window (the parallel ranged requests that
/// found out the server ignores Range come back in any order): chunks passed on the way to a
/// later one are kept for their own call, up to `keep` of them.
actor WholeBody {
    let url: String
    let connection: HTTPConnection
    let chunkSize: UInt64
    let keep: Int
    private var iterator: HTTPClientResponse.Body.AsyncIterator?
    private var position: UInt64 = 0
    private var pending: ByteBuffer?
    private var passed: [UInt64: ImageBytes] = [:]

    init(url: String, connection: HTTPConnection, chunkSize: UInt64, keep: Int) {
        self.url = url
        self.connection = connection
        self.chunkSize = chunkSize
        self.keep = keep
    }

    func cut(_ range: ClosedRange<UInt64>) async throws -> ImageBytes {
        if let kept = passed.removeValue(forKey: range.lowerBound) { return kept }
        if iterator == nil || position > range.lowerBound {
            iterator = try await connection.open(url).makeAsyncIterator()
            position = 0
            pending = nil
            passed.removeAll()
        }
        // Chunks on the way that are close enough to be asked for soon are kept.
        while position < range.lowerBound {
            let start = position
            let piece = try await take(Int(min(chunkSize - start % chunkSize, range.lowerBound - start)))
            if range.lowerBound - start <= UInt64(keep) * chunkSize && start % chunkSize == 0 && piece.count == Int(chunkSize) {
                passed[start] = piece
                while passed.count > keep, let oldest = passed.keys.min() { passed[oldest] = nil }
            }
        }
        return try await take(Int(range.upperBound - range.lowerBound + 1))
    }

    /// The next `length` bytes of the body.
    private func take(_ length: Int) async throws -> ImageBytes {
        var out = ImageBytes(), got = 0
        while got < length {
            guard let buffer = try await next() else {
                throw StoreError.backend("\(URLText.redacted(url)): body ended at \(position)")
            }
            let count = min(buffer.readableBytes, length - got)
            if count < buffer.readableBytes { pending = buffer.getSlice(at: buffer.readerIndex + count, length: buffer.readableBytes - count) }
            out.append(buffer.getSlice(at: buffer.readerIndex, length: count)!)
            got += count
            position += UInt64(count)
        }
        return out
    }

    private func next() async throws -> ByteBuffer? {
        if let buffer = pending {
            pending = nil
            return buffer
        }
        var it = iterator!
        do {
            let buffer = try await it.next(isolation: self)
            iterator = it
            return buffer
        } catch {
            // The server went away in the middle of the body.
            let failure = HTTPClients.map(error, what: URLText.redacted(url))
            connection.health(of: url).record(failure)
            throw failure
        }
    }

    func stop() {
        iterator = nil
        pending = nil
        passed.removeAll()
    }
}
