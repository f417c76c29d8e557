import Foundation
import Synchronization

/// Reads an image with Range requests in aligned chunks. Sequential reading is detected and the
/// next chunks are fetched ahead, in parallel, within a fixed budget of chunks in memory. A server
/// that ignores Range (200 for a ranged GET) still works: each chunk is then cut from the start of
/// the body, which costs transfer but stays correct.
final class HTTPImageReader: ImageReader {
    let url: String
    let size: UInt64
    let connection: HTTPConnection
    private let state = Mutex(State())

    static let chunkSize: UInt64 = 4 << 20
    /// Chunks fetched ahead of a sequential reader; with the current one, the memory budget.
    static let readAhead = 6

    private struct State {
        var chunks: [UInt64: Task<[UInt8], any Error>] = [:]
        var nextSequential: UInt64 = 0
    }

    init(url: String, size: UInt64, connection: HTTPConnection) {
        self.url = url
        self.size = size
        self.connection = connection
    }

    deinit { state.withLock { $0.chunks.values.forEach { $0.cancel() } } }

    func read(at offset: UInt64, count: Int) async throws(StoreError) -> [UInt8] {
        guard count > 0, offset < size else { return [] }
        let end = min(size, offset + UInt64(count))
        let first = offset / Self.chunkSize, last = (end - 1) / Self.chunkSize
        let tasks: [(UInt64, Task<[UInt8], any Error>)] = state.withLock { s in
            let sequential = offset == s.nextSequential
            s.nextSequential = end
            // Keep what this read and the read-ahead window need; drop the rest.
            let keep = first...(last + UInt64(Self.readAhead))
            for (index, task) in s.chunks where !keep.contains(index) {
                task.cancel()
                s.chunks[index] = nil
            }
            let wanted = first...(sequential ? min(last + UInt64(Self.readAhead), (size - 1) / Self.chunkSize) : last)
            for index in wanted where s.chunks[index] == nil { s.chunks[index] = fetch(index) }
            return (first...last).map { ($0, s.chunks[$0]!) }
        }
        var result: [UInt8] = []
        result.reserveCapacity(Int(end - offset))
        for (index, task) in tasks {
            let bytes: [UInt8]
            do { bytes = try await task.value } catch {
                state.withLock { _ = $0.chunks.removeValue(forKey: index) }  // a later read tries again
                throw (error as? StoreError) ?? .backend("\(error)")
            }
            let chunkStart = index * Self.chunkSize
            let from = Int(max(offset, chunkStart) - chunkStart)
            let to = Int(min(end, chunkStart + UInt64(bytes.count)) - chunkStart)
            if from < to { result.append(contentsOf: bytes[from..<to]) }
        }
        return result
    }

    private func fetch(_ index: UInt64) -> Task<[UInt8], any Error> {
        let start = index * Self.chunkSize
        let end = min(size, start + Self.chunkSize) - 1
        let url = self.url, connection = self.connection
        return Task {
            let reply = try await connection.fetch(url, range: start...end)
            switch reply.status {
            case 206: return reply.body
            case 200:
                // Range ignored: the body starts at 0. Read up to this chunk's end and cut.
                if start == 0 { return reply.body }
                let whole = try await connection.fetch(url, range: 0...end, maxBody: Int(end + 1))
                guard whole.body.count > Int(start) else { throw StoreError.backend("\(URLText.redacted(url)): short body") }
                return Array(whole.body[Int(start)...])
            case 404, 410: throw StoreError.notFound(image: url)
            default: throw StoreError.remoteServiceUnavailable("\(URLText.redacted(url)): HTTP \(reply.status)")
            }
        }
    }

    func close() async {
        state.withLock { s in
            s.chunks.values.forEach { $0.cancel() }
            s.chunks.removeAll()
        }
    }
}
