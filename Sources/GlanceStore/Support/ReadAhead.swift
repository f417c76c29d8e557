import Synchronization

/// Reads of an image served from aligned chunks fetched by a driver, with read-ahead for sequential
/// readers inside a fixed memory budget: what the network drivers (http, swift, rbd, cinder, vmware,
/// sheepdog) share.
///
/// Two reads in a row each right next to the one before (within `contiguity` of it, either side:
/// the kernel sends a batch of read-ahead requests in any order) make a sequential run, as does a
/// first read of a whole buffer at offset 0 (`openingRead`); the run goes on while reads stay within the read-ahead window of its furthest
/// point (the head), either side: the kernel's read-ahead sends batches of requests that arrive in
/// any order and lag or lead the head by megabytes. A run fetches whole chunks, ahead of the head by
/// one chunk, then two, four, ... up to `depth` as it goes on. A shorter first read at offset 0 is a
/// header read (`headLength`): the image's first bytes are fetched once and kept for the reader's
/// later reads within them. Any other read is random: exactly
/// its bytes are fetched (one request per chunk it touches: a driver is never asked across a chunk's
/// boundary), nothing is kept. (200 random 64 KiB reads of an http image cost 126x the
/// bytes asked when every read fetched its 4 MiB chunk and a read near the last one the whole window;
/// 3.2x when one near read started a run; two in a row happen to random readers too rarely to count.) Each chunk is fetched once
/// per run and let go once every byte of it was returned: the page cache has it then. With a
/// store's `budget`, a run keeps its share of the store's chunks ahead, up to `depth`. A reader that
/// fetched 64 MiB or more counts in `longRuns`, which gives freed memory back when the last one closes.
final class ReadAhead: Sendable {
    let size: UInt64
    let chunkSize: UInt64
    /// Chunks fetched ahead of the head; with the one being read, the memory budget.
    let depth: UInt64
    private let budget: ReadAheadBudget?
    /// Starts fetching `length` bytes at `start` (a chunk, or a random read's bytes); `sequential`
    /// when they belong to a sequential run (a driver may tell its backend, as `rbd export` does).
    /// Called with this object's lock held: it must not call back.
    private let fetch: @Sendable (_ start: UInt64, _ length: Int, _ sequential: Bool) -> Task<ImageBytes, any Error>
    /// How far from the end of the last read a read may start and still continue it: the kernel's
    /// read-ahead (FuseMount.raiseReadahead) and one request (about 1 MiB) arrive out of order.
    static let contiguity: UInt64 = 2 << 20
    /// A first read at offset 0 at least this long is the kernel's first read-ahead for a reader of
    /// whole buffers (sha512sum's 32 KiB give 128 KiB, cp's and rsync's more): a run from the start.
    /// A random reader's first read is its own size (fio's 64 KiB with POSIX_FADV_RANDOM), a header
    /// read's first read-ahead a few pages (qemu-img). Before, a small image cost three requests
    /// before its run was known (swift: rsync of 5 MiB images 1.45x slower).
    static let openingRead = 128 << 10
    /// A first read at offset 0 shorter than `openingRead` is a header read (qemu-img info: 16 KiB at 0,
    /// then 64 KiB at 64 KiB and 4 KiB at 192 KiB; file(1), blkid): the image's first bytes up to this
    /// are fetched once and kept for the reader's later reads within them (three GETs of a cold swift
    /// object became one, as qemu's own curl driver reads 256 KiB at once).
    static let headLength: UInt64 = 256 << 10
    private let state = Mutex(State())
    private let describe: String
    /// Where the bytes held are counted (`glance_storefs_readahead_bytes`).
    private let meters: StoreMeters
    /// Told when this reader's chunks add up to a long run and when it closes (the memory goes back).
    private let longRuns: LongRuns

    private struct State {
        var chunks: [UInt64: Chunk] = [:]
        /// The end of the furthest read of the current sequential run.
        var head: UInt64 = 0
        /// The last chunk this run has fetched (or is fetching) ahead.
        var fetchedThrough: UInt64 = 0
        /// Bytes of the chunks held (fetched or being fetched).
        var held: Int64 = 0
        /// Reads in a row that continued the one before (2 or more: a sequential run); reads so far.
        var streak = 0
        var reads = 0
        /// The bytes of the last read.
        var last: Range<UInt64> = 0..<0
        /// Counted in the budget's runs.
        var inBudget = false
        /// The image's first bytes, fetched at a header read (`headLength`); kept until close.
        var header: (task: Task<ImageBytes, any Error>, length: UInt64)?
        /// Bytes of the chunks fetched so far; counted in `longRuns` once past its threshold.
        var fetched: UInt64 = 0
        var long = false
    }

    private struct Chunk {
        let task: Task<ImageBytes, any Error>
        var served = 0
    }

    init(size: UInt64, chunkSize: UInt64, depth: UInt64, budget: ReadAheadBudget? = nil, describe: String, meters: StoreMeters,
         longRuns: LongRuns = .shared,
         fetch: @escaping @Sendable (_ start: UInt64, _ length: Int, _ sequential: Bool) -> Task<ImageBytes, any Error>) {
        self.budget = budget
        self.longRuns = longRuns
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
        if delta > 0 { s.fetched += UInt64(delta) }
        if !s.long && s.fetched >= LongRuns.threshold {
            s.long = true
            longRuns.began()
        }
    }

    func read(at offset: UInt64, count: Int) async throws(StoreError) -> ImageBytes {
        guard count > 0, offset < size else { return ImageBytes() }
        let chunk = chunkSize, window = depth * chunkSize
        let end = min(size, offset + UInt64(count))
        let first = offset / chunk, last = (end - 1) / chunk, final = (size - 1) / chunk
        enum Plan { case chunks([(UInt64, Task<ImageBytes, any Error>)]), random([Task<ImageBytes, any Error>]), header(Task<ImageBytes, any Error>) }
        let plan: Plan = state.withLock { s in
            if s.reads == 0 && offset == 0 && count < Self.openingRead && end < size {
                let length = min(size, Self.headLength, chunk)
                s.header = (fetch(0, Int(length), false), length)
                s.held += Int64(length)
                meters.readAheadBytes.increment(by: Double(length))
            }
            if let header = s.header, end <= header.length {
                s.reads += 1
                s.last = offset..<end
                return .header(header.task)
            }
            let inRun = s.streak >= 2 && offset + window >= s.head && offset <= s.head + window
            let next = s.reads > 0 && offset <= s.last.upperBound + Self.contiguity && end + Self.contiguity >= s.last.lowerBound
            s.reads += 1
            s.last = offset..<end
            if inRun || next {
                s.streak += 1
                s.head = max(s.head, end)
            } else if s.reads == 1 && offset == 0 && count >= Self.openingRead {
                s.streak = 2  // a copy's first read: the run starts here
                s.head = end
            } else {
                s.streak = 0
                s.head = end
            }
            let sequential = s.streak >= 2
            if sequential != s.inBudget, let budget {
                if sequential { budget.join() } else { budget.leave() }
                s.inBudget = sequential
            }
            // This run's share of the store's read-ahead (all of `depth` without a budget).
            let depth = budget?.depth(upTo: self.depth) ?? self.depth
            if !sequential && !(first...last).allSatisfy({ s.chunks[$0] != nil }) {
                s.fetchedThrough = last
                return .random((first...last).map { index in
                    let from = max(offset, index * chunk), to = min(end, (index + 1) * chunk)
                    return fetch(from, Int(to - from), false)
                })
            }
            // One chunk ahead once the run is confirmed, doubling up to the budget.
            let reach = s.streak < 3 ? 0 : min(depth, UInt64(1) << UInt64(min(s.streak - 3, 16)))
            let headChunk = (s.head - 1) / chunk
            let ahead = sequential ? min(headChunk + reach, final) : last
            // The budget: chunks near the head (and this read's). Not cancelled when let go: an
            // early request may be waiting for one.
            let keep = min(first, headChunk - min(headChunk, depth))...max(last, ahead)
            for index in s.chunks.keys where !keep.contains(index) { setChunk(&s, index, nil) }
            var wanted = Array(first...last)
            if sequential, max(last, s.fetchedThrough) < ahead { wanted += (max(last, s.fetchedThrough) + 1)...ahead }
            for index in wanted where s.chunks[index] == nil {
                setChunk(&s, index, Chunk(task: fetch(index * chunk, Int(length(of: index)), sequential)))
            }
            s.fetchedThrough = sequential ? max(s.fetchedThrough, ahead) : last
            return .chunks((first...last).map { ($0, s.chunks[$0]!.task) })
        }
        let tasks: [(UInt64, Task<ImageBytes, any Error>)]
        switch plan {
        case .random(let pieces):
            var result = ImageBytes()
            for piece in pieces {
                do { result.append(try await piece.value) } catch { throw (error as? StoreError) ?? .backend("\(describe): \(error)") }
            }
            return result
        case .chunks(let chunks):
            tasks = chunks
        case .header(let task):
            let bytes: ImageBytes
            do { bytes = try await task.value } catch {
                state.withLock { s in  // a later read asks again
                    guard let header = s.header, header.task == task else { return }
                    s.header = nil
                    s.held -= Int64(header.length)
                    meters.readAheadBytes.decrement(by: Double(header.length))
                }
                throw (error as? StoreError) ?? .backend("\(describe): \(error)")
            }
            guard Int(end) <= bytes.count else { throw .backend("\(describe): \(bytes.count) bytes at 0 where \(end) were asked for") }
            return bytes.slice(Int(offset)..<Int(end))
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
            if s.inBudget { budget?.leave() }
            s.inBudget = false
            s.chunks.values.forEach { $0.task.cancel() }
            s.chunks.removeAll()
            s.header?.task.cancel()
            s.header = nil
            if s.held > 0 { meters.readAheadBytes.decrement(by: Double(s.held)) }
            s.held = 0
            if s.long { longRuns.ended() }
            s.long = false
        }
    }
}
