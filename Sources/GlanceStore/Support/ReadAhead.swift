import Synchronization

/// Reads of an image served from aligned chunks fetched by a driver, with read-ahead for sequential
/// readers inside a fixed memory budget: what the network drivers (http, rbd) share.
///
/// The kernel's read-ahead sends batches of requests that arrive in any order and lag or lead the
/// furthest point read by megabytes, so "sequential" means within the read-ahead window of that
/// point (the head), either side. Each chunk is fetched once per run and let go once every byte of
/// it was returned: the page cache has it then.
final class ReadAhead: Sendable {
    let size: UInt64
    let chunkSize: UInt64
    /// Chunks fetched ahead of the head; with the one being read, the memory budget.
    let depth: UInt64
    /// Starts fetching chunk `index`; `sequential` when it belongs to a sequential run (a driver
    /// may tell its backend, as `rbd export` does). Called with this object's lock held: it must
    /// not call back.
    private let fetch: @Sendable (_ index: UInt64, _ sequential: Bool) -> Task<ImageBytes, any Error>
    private let state = Mutex(State())
    private let describe: String
    /// Where the bytes held are counted (`glance_storefs_readahead_bytes`).
    private let meters: StoreMeters

    private struct State {
        var chunks: [UInt64: Chunk] = [:]
        /// The end of the furthest read of the current sequential run.
        var head: UInt64 = 0
        /// The last chunk this run has fetched (or is fetching) ahead.
        var fetchedThrough: UInt64 = 0
        /// Bytes of the chunks held (fetched or being fetched).
        var held: Int64 = 0
    }

    private struct Chunk {
        let task: Task<ImageBytes, any Error>
        var served = 0
    }

    init(size: UInt64, chunkSize: UInt64, depth: UInt64, describe: String, meters: StoreMeters,
         fetch: @escaping @Sendable (_ index: UInt64, _ sequential: Bool) -> Task<ImageBytes, any Error>) {
        self.meters = meters
        self.size = size
        self.chunkSize = chunkSize
        self.depth = depth
        self.describe = describe
        self.fetch = fetch
    }

    deinit { close() }

    private func length(of index: UInt64) -> Int64 { Int64(min(size, (index + 1) * chunkSize) - index * chunkSize) }

    /// Every change of the chunks held goes through here, so the gauge stays their sum.
    private func setChunk(_ s: inout State, _ index: UInt64, _ chunk: Chunk?) {
        let had = s.chunks[index] != nil
        s.chunks[index] = chunk
        let delta = (chunk != nil ? length(of: index) : 0) - (had ? length(of: index) : 0)
        guard delta != 0 else { return }
        s.held += delta
        if delta > 0 { meters.readAheadBytes.increment(by: Double(delta)) } else { meters.readAheadBytes.decrement(by: Double(-delta)) }
    }

    func read(at offset: UInt64, count: Int) async throws(StoreError) -> ImageBytes {
        guard count > 0, offset < size else { return ImageBytes() }
        let chunk = chunkSize, window = depth * chunkSize
        let end = min(size, offset + UInt64(count))
        let first = offset / chunk, last = (end - 1) / chunk, final = (size - 1) / chunk
        let tasks: [(UInt64, Task<ImageBytes, any Error>)] = state.withLock { s in
            let sequential = offset + window >= s.head && offset <= s.head + window
            s.head = sequential ? max(s.head, end) : end
            let headChunk = (s.head - 1) / chunk
            let ahead = sequential ? min(headChunk + depth, final) : last
            // The budget: chunks near the head (and this read's). Not cancelled when let go: an
            // early request may be waiting for one.
            let keep = min(first, headChunk - min(headChunk, depth))...max(last, ahead)
            for index in s.chunks.keys where !keep.contains(index) { setChunk(&s, index, nil) }
            var wanted = Array(first...last)
            if sequential, max(last, s.fetchedThrough) < ahead { wanted += (max(last, s.fetchedThrough) + 1)...ahead }
            for index in wanted where s.chunks[index] == nil { setChunk(&s, index, Chunk(task: fetch(index, sequential))) }
            s.fetchedThrough = sequential ? max(s.fetchedThrough, ahead) : last
            return (first...last).map { ($0, s.chunks[$0]!.task) }
        }
        var result = ImageBytes()
        for (index, task) in tasks {
            let bytes: ImageBytes
            do { bytes = try await task.value } catch {
                state.withLock { s in if s.chunks[index]?.task == task { setChunk(&s, index, nil) } }  // a later read tries again
                throw (error as? StoreError) ?? .backend("\(describe): \(error)")
            }
            let chunkStart = index * chunk, chunkEnd = min(size, chunkStart + chunk)
            let from = Int(max(offset, chunkStart) - chunkStart)
            let to = Int(min(end, chunkEnd) - chunkStart)
            if from < to { result.append(bytes.slice(from..<to)) }
            state.withLock { s in
                guard s.chunks[index]?.task == task else { return }
                s.chunks[index]!.served += to - from
                if s.chunks[index]!.served >= Int(chunkEnd - chunkStart) { setChunk(&s, index, nil) }
            }
        }
        return result
    }

    /// What `glance_storefs_readahead_bytes` counts for this reader.
    var heldBytes: Int64 { state.withLock { $0.held } }

    func close() {
        state.withLock { s in
            s.chunks.values.forEach { $0.task.cancel() }
            s.chunks.removeAll()
            if s.held > 0 { meters.readAheadBytes.decrement(by: Double(s.held)) }
            s.held = 0
        }
    }
}
