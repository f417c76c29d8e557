import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization

/// Reads an image with Range requests in aligned chunks, kept as the network's buffers (no copy
/// here; the FUSE reply hands them to the kernel as they are). Sequential reading is detected and
/// the next chunks are fetched ahead, in parallel, within a fixed budget of chunks in memory. The
/// kernel's read-ahead sends several requests at once and they may arrive out of order, so
/// "sequential" means near the furthest point read, not exactly at the last read's end.
///
/// A server that ignores Range (200 for a ranged GET past 0) is read through one streaming GET
/// from the start instead: chunks are cut from the body as it arrives, and only a read behind the
/// stream's position starts it again.
final class HTTPImageReader: BufferedImageReader {
    let url: String
    let size: UInt64
    let connection: HTTPConnection
    private let state = Mutex(State())
    private let body: WholeBody

    static let chunkSize: UInt64 = 4 << 20
    /// Chunks fetched ahead of a sequential reader; with the one being read, the memory budget.
    static let readAhead: UInt64 = 6

    private struct State {
        var chunks: [UInt64: Chunk] = [:]
        /// The end of the furthest read of the current sequential run.
        var head: UInt64 = 0
        /// The last chunk this run has fetched (or is fetching) ahead.
        var fetchedThrough: UInt64 = 0
        var rangesIgnored = false
        /// Streamed chunks are cut one after the other from one body: each waits for the one before.
        var streamTail: Task<ImageBytes, any Error>?
    }

    private struct Chunk {
        let task: Task<ImageBytes, any Error>
        /// Bytes of it already returned: once all were, the kernel's page cache has them and the
        /// chunk is let go.
        var served = 0
    }

    init(url: String, size: UInt64, connection: HTTPConnection) {
        self.url = url
        self.size = size
        self.connection = connection
        self.body = WholeBody(url: url, connection: connection, chunkSize: Self.chunkSize, keep: Int(Self.readAhead) + 1)
    }

    deinit { state.withLock { $0.chunks.values.forEach { $0.task.cancel() } } }

    func read(at offset: UInt64, count: Int) async throws(StoreError) -> [UInt8] {
        try await readBuffers(at: offset, count: count).array
    }

    func readBuffers(at offset: UInt64, count: Int) async throws(StoreError) -> ImageBytes {
        guard count > 0, offset < size else { return ImageBytes() }
        let chunk = Self.chunkSize, window = Self.readAhead * chunk
        let end = min(size, offset + UInt64(count))
        let first = offset / chunk, last = (end - 1) / chunk, final = (size - 1) / chunk
        let tasks: [(UInt64, Task<ImageBytes, any Error>)] = state.withLock { s in
            // Within the read-ahead window of the head, either side: the kernel's own read-ahead
            // sends batches of requests that arrive in any order and lag or lead by megabytes.
            let sequential = offset + window >= s.head && offset <= s.head + window
            s.head = sequential ? max(s.head, end) : end
            let headChunk = (s.head - 1) / chunk
            let ahead = sequential ? min(headChunk + Self.readAhead, final) : last
            // The memory budget: chunks near the head (and this read's). Not cancelled when let
            // go: an early request may be waiting for one.
            let keep = min(first, headChunk - min(headChunk, Self.readAhead))...max(last, ahead)
            for index in s.chunks.keys where !keep.contains(index) { s.chunks[index] = nil }
            // This read's chunks, and read-ahead past what this run already fetched (a chunk
            // fully read is gone from memory, not to be fetched again).
            var wanted = Array(first...last)
            if sequential, max(last, s.fetchedThrough) < ahead { wanted += (max(last, s.fetchedThrough) + 1)...ahead }
            for index in wanted where s.chunks[index] == nil { s.chunks[index] = Chunk(task: fetch(index, &s)) }
            s.fetchedThrough = sequential ? max(s.fetchedThrough, ahead) : last
            return (first...last).map { ($0, s.chunks[$0]!.task) }
        }
        var result = ImageBytes()
        for (index, task) in tasks {
            let bytes: ImageBytes
            do { bytes = try await task.value } catch {
                state.withLock { s in if s.chunks[index]?.task == task { s.chunks[index] = nil } }  // a later read tries again
                throw (error as? StoreError) ?? .backend("\(URLText.redacted(url)): \(error)")
            }
            let chunkStart = index * chunk, chunkEnd = min(size, chunkStart + chunk)
            let from = Int(max(offset, chunkStart) - chunkStart)
            let to = Int(min(end, chunkEnd) - chunkStart)
            if from < to { result.append(bytes.slice(from..<to)) }
            state.withLock { s in
                guard s.chunks[index]?.task == task else { return }
                s.chunks[index]!.served += to - from
                if s.chunks[index]!.served >= Int(chunkEnd - chunkStart) { s.chunks[index] = nil }
            }
        }
        return result
    }

    private func fetch(_ index: UInt64, _ s: inout State) -> Task<ImageBytes, any Error> {
        let start = index * Self.chunkSize
        let end = min(size, start + Self.chunkSize) - 1
        if s.rangesIgnored { return streamed(start...end, &s) }
        let url = self.url, connection = self.connection
        return Task {
            let reply = try await connection.fetch(url, range: start...end)
            switch reply.status {
            case 206: return reply.data
            case 200 where start == 0: return reply.data  // the body starts at 0 either way
            case 200:
                // Range ignored: from now on this image is read from one streaming body.
                let task = state.withLock { s in
                    s.rangesIgnored = true
                    return streamed(start...end, &s)
                }
                return try await task.value
            case 404, 410: throw StoreError.notFound(image: URLText.redacted(url))
            default: throw StoreError.remoteServiceUnavailable("\(URLText.redacted(url)): HTTP \(reply.status)")
            }
        }
    }

    private func streamed(_ range: ClosedRange<UInt64>, _ s: inout State) -> Task<ImageBytes, any Error> {
        let previous = s.streamTail, body = self.body
        let task = Task {
            _ = await previous?.result
            return try await body.cut(range)
        }
        s.streamTail = task
        return task
    }

    func close() async {
        state.withLock { s in
            s.chunks.values.forEach { $0.task.cancel() }
            s.chunks.removeAll()
        }
        await body.stop()
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
            out.buffers.append(buffer.getSlice(at: buffer.readerIndex, length: count)!)
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
        let buffer = try await it.next(isolation: self)
        iterator = it
        return buffer
    }

    func stop() {
        iterator = nil
        pending = nil
        passed.removeAll()
    }
}
