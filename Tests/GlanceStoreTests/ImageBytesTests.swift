import NIOCore
import Synchronization
import Testing
@testable import GlanceStore

/// Memory handed over by a library (librbd's buffers): slices share it without copies, and it is
/// given back exactly once, when the last slice is gone.
@Suite struct ImageBytesTests {
    /// Two segments of library memory, 0..<10 and 10..<25, counting how often they are released.
    /// Sendable: written only in init, as a library fills memory before handing it over.
    final class Library: @unchecked Sendable {
        let first = UnsafeMutableRawBufferPointer.allocate(byteCount: 10, alignment: 8)
        let second = UnsafeMutableRawBufferPointer.allocate(byteCount: 15, alignment: 8)
        let releases = Mutex(0)

        init() {
            for i in 0..<10 { first[i] = UInt8(i) }
            for i in 0..<15 { second[i] = UInt8(10 + i) }
        }

        deinit {
            first.deallocate()
            second.deallocate()
        }

        func bytes() -> ImageBytes {
            ImageBytes(owner: ExternalMemory { self.releases.withLock { $0 += 1 } },
                       segments: [UnsafeRawBufferPointer(first), UnsafeRawBufferPointer(second)])
        }
    }

    @Test func slicesAcrossSegmentsShareTheMemory() {
        let library = Library()
        let bytes = library.bytes()
        #expect(bytes.count == 25)
        #expect(bytes.array == Array(0..<25))
        let middle = bytes.slice(5..<20)
        #expect(middle.array == Array(5..<20))
        middle.withSegments { segments in
            #expect(segments.count == 2)
            #expect(segments[0].baseAddress == UnsafeRawPointer(library.first.baseAddress! + 5))
            #expect(segments[1].baseAddress == UnsafeRawPointer(library.second.baseAddress!))
            #expect(segments.map(\.count) == [5, 10])
        }
        #expect(bytes.slice(12..<14).array == [12, 13])
        #expect(bytes.slice(25..<30).count == 0)
    }

    @Test func mixesWithNetworkBuffers() {
        let library = Library()
        var bytes = ImageBytes([ByteBuffer(bytes: [100, 101, 102])])
        bytes.append(library.bytes().slice(8..<12))
        bytes.append(ByteBuffer(bytes: [200]))
        #expect(bytes.array == [100, 101, 102, 8, 9, 10, 11, 200])
        #expect(bytes.slice(2..<7).array == [102, 8, 9, 10, 11])
    }

    @Test func releasedOnceWhenTheLastSliceGoes() {
        let library = Library()
        var kept: ImageBytes? = nil
        do {
            let bytes = library.bytes()
            kept = bytes.slice(20..<25)
        }
        #expect(library.releases.withLock { $0 } == 0)
        #expect(kept?.array == Array(20..<25))
        kept = nil
        #expect(library.releases.withLock { $0 } == 1)
    }
}

/// What the read-ahead fetches: exactly the bytes of a random read; whole chunks for a sequential
/// run, ahead by one chunk, then two, four... up to the budget; runs marked sequential for the driver
/// (rbd hints the OSDs with it).
@Suite struct ReadAheadTests {
    static let mib: UInt64 = 1 << 20

    /// A driver that records what it was asked for and answers bytes that say their own offset.
    final class Recorder: Sendable {
        /// Bytes that say their offset modulo 251, long enough for a chunk at any offset.
        static let cycle: [UInt8] = (0..<(4 << 20) + 251).map { UInt8($0 % 251) }
        let fetched = Mutex<[(start: UInt64, length: Int, sequential: Bool)]>([])
        func make(size: UInt64, chunk: UInt64 = mib, depth: UInt64 = 4, budget: ReadAheadBudget? = nil, store: String = "test",
                  longRuns: LongRuns = LongRuns { }) -> ReadAhead {
            ReadAhead(size: size, chunkSize: chunk, depth: depth, budget: budget, describe: "test", meters: .of(store), longRuns: longRuns) { start, length, sequential in
                self.fetched.withLock { $0.append((start, length, sequential)) }
                let from = Int(start % 251)
                return Task { ImageBytes([ByteBuffer(bytes: Recorder.cycle[from..<from + length])]) }
            }
        }
        var bytes: Int { fetched.withLock { $0.reduce(0) { $0 + $1.length } } }
        var last: [(start: UInt64, length: Int, sequential: Bool)] { fetched.withLock { $0 } }
        func reset() { fetched.withLock { $0.removeAll() } }
    }

    static func expected(_ offset: UInt64, _ count: Int) -> [UInt8] {
        let from = Int(offset % 251)
        return Array(Recorder.cycle[from..<from + count])
    }

    @Test func randomReadsFetchTheirBytesAndRunsRampUp() async throws {
        let mib = Self.mib, r = Recorder()
        let readAhead = r.make(size: 256 * mib)
        // A jump to the middle: exactly what was asked, not marked sequential.
        #expect(try await readAhead.read(at: 50 * mib, count: 10).array == Self.expected(50 * mib, 10))
        #expect(r.last.map(\.start) == [50 * mib] && r.last.map(\.length) == [10] && r.last.map(\.sequential) == [false])
        r.reset()
        // Going on from there once is not yet a run (random readers land next to their last read
        // now and then): still exactly the bytes.
        #expect(try await readAhead.read(at: 50 * mib + 10, count: 1000).array == Self.expected(50 * mib + 10, 1000))
        #expect(r.last.map(\.start) == [50 * mib + 10] && r.last.map(\.length) == [1000] && r.last.map(\.sequential) == [false])
        r.reset()
        // Twice: a run; its chunk whole, nothing ahead yet.
        #expect(try await readAhead.read(at: 50 * mib + 1010, count: 1000).array == Self.expected(50 * mib + 1010, 1000))
        #expect(r.last.map(\.start) == [50 * mib] && r.last.map(\.length) == [Int(mib)] && r.last.allSatisfy { $0.sequential })
        r.reset()
        // Then one chunk ahead, then two, then four (the budget), each fetched once.
        var offset = 50 * mib + 2010
        var aheads: [[UInt64]] = []
        for _ in 0..<4 {
            #expect(try await readAhead.read(at: offset, count: Int(mib)).array == Self.expected(offset, Int(mib)))
            offset += mib
            aheads.append(r.last.map { $0.start / mib })
            r.reset()
        }
        #expect(aheads == [[51, 52], [53, 54], [55, 56, 57], [58]], "\(aheads)")
        // A far jump: random again.
        _ = try await readAhead.read(at: 10 * mib, count: 65536)
        #expect(r.last.map(\.length) == [65536] && r.last.map(\.sequential) == [false])
        readAhead.close()
    }

    /// qemu-img info's reads of a qcow2 image through the kernel: 16 KiB at 0, 4 KiB at 192 KiB, 64 KiB
    /// at 64 KiB. One fetch of the image's first 256 KiB serves them all (three requests before, the
    /// third a whole chunk: the reads looked like a run); a read past it is fetched as before.
    @Test func aHeaderReadFetchesTheImagesFirstBytesOnce() async throws {
        let mib = Self.mib, r = Recorder()
        let readAhead = r.make(size: 1024 * mib, chunk: 4 * mib)
        for (offset, count) in [(0, 16384), (196_608, 4096), (65536, 65536), (0, 512)] as [(UInt64, Int)] {
            #expect(try await readAhead.read(at: offset, count: count).array == Self.expected(offset, count))
        }
        #expect(r.last.map(\.start) == [0] && r.last.map(\.length) == [256 << 10] && r.last.map(\.sequential) == [false])
        #expect(readAhead.heldBytes == 256 << 10)
        r.reset()
        _ = try await readAhead.read(at: 300 * mib, count: 65536)
        #expect(r.last.map(\.start) == [300 * mib] && r.last.map(\.length) == [65536])
        readAhead.close()
        #expect(readAhead.heldBytes == 0)
        // A copy's first read (128 KiB or more at 0) starts a run as before, and an image no longer
        // than the read is read exactly.
        r.reset()
        let copy = r.make(size: 1024 * mib, chunk: 4 * mib)
        _ = try await copy.read(at: 0, count: 128 << 10)
        #expect(r.last.first.map { ($0.start, $0.length, $0.sequential) } ?? (1, 0, false) == (0, Int(4 * mib), true))
        copy.close()
        r.reset()
        let small = r.make(size: 4096, chunk: 4 * mib)
        #expect(try await small.read(at: 0, count: 4096).array == Self.expected(0, 4096))
        #expect(r.last.map(\.length) == [4096])
        small.close()
    }

    /// A header fetch that fails fails its read, holds nothing, and the next read asks again.
    @Test func aFailedHeaderFetchIsAskedForAgain() async throws {
        let calls = Mutex(0)
        let readAhead = ReadAhead(size: 64 << 20, chunkSize: 4 << 20, depth: 4, describe: "test", meters: .of("test-header")) { start, length, _ in
            let call = calls.withLock { $0 += 1; return $0 }
            let from = Int(start % 251)
            return Task {
                if call == 1 { throw StoreError.backend("the first fetch fails") }
                return ImageBytes([ByteBuffer(bytes: Recorder.cycle[from..<from + length])])
            }
        }
        await #expect(throws: StoreError.backend("the first fetch fails")) { try await readAhead.read(at: 0, count: 16384) }
        #expect(readAhead.heldBytes == 0)
        #expect(try await readAhead.read(at: 65536, count: 4096).array == Self.expected(65536, 4096))
        #expect(calls.withLock { $0 } == 2)
        readAhead.close()
    }

    /// 200 random 64 KiB reads of a 256 MiB image (what fio or qemu asks with POSIX_FADV_RANDOM):
    /// the driver is asked for about the bytes read, not their chunks (126x with every read
    /// fetching its 4 MiB chunk and near ones the window).
    @Test func randomReadersCostAboutTheBytesTheyRead() async throws {
        let mib = Self.mib, r = Recorder()
        let readAhead = r.make(size: 256 * mib, chunk: 4 * mib, depth: 6)
        var seed: UInt64 = 0x9E3779B97F4A7C15
        var asked = 0
        for _ in 0..<200 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let offset = (seed >> 11) % (256 * mib / 65536) * 65536
            let bytes = try await readAhead.read(at: offset, count: 65536)
            #expect(bytes.count == 65536)
            asked += 65536
        }
        let amplification = Double(r.bytes) / Double(asked)
        #expect(amplification <= 2, "fetched \(r.bytes) bytes for \(asked) read: \(amplification)x")
        readAhead.close()
    }

    /// A reader whose chunks add up to 64 MiB is a long run while it is open; when the last long run
    /// closes, the free memory is given back, once; a short run (rsync's 5 MiB images) gives nothing.
    @Test func theLastLongRunToCloseGivesMemoryBack() async throws {
        let mib = Self.mib
        let releases = Mutex(0)
        let runs = LongRuns { releases.withLock { $0 += 1 } }
        func readAll(_ readAhead: ReadAhead, _ size: UInt64) async throws {
            var offset: UInt64 = 0
            while offset < size {
                let count = Int(min(mib, size - offset))
                #expect(try await readAhead.read(at: offset, count: count).array == Self.expected(offset, count))
                offset += UInt64(count)
            }
        }
        let short = Recorder().make(size: 5 * mib, longRuns: runs)
        try await readAll(short, 5 * mib)
        #expect(runs.count == 0)
        short.close()
        let a = Recorder().make(size: 80 * mib, longRuns: runs), b = Recorder().make(size: 80 * mib, longRuns: runs)
        try await readAll(a, 80 * mib)
        try await readAll(b, 80 * mib)
        #expect(runs.count == 2)
        a.close()
        a.close()  // a second close (deinit's) counts nothing
        try await Task.sleep(for: .milliseconds(100))
        #expect(runs.count == 1)
        #expect(releases.withLock { $0 } == 0, "a long run is still open")
        b.close()
        for _ in 0..<100 where releases.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(runs.count == 0)
        #expect(releases.withLock { $0 } == 1)
    }

    @Test func aSequentialReaderGetsEveryChunkOnce() async throws {
        let mib = Self.mib, r = Recorder(), size = 64 * mib + 12345
        let readAhead = r.make(size: size)
        var offset: UInt64 = 0
        while offset < size {
            let count = Int(min(mib, size - offset))
            #expect(try await readAhead.read(at: offset, count: count).array == Self.expected(offset, count))
            offset += UInt64(count)
        }
        // A first read of 1 MiB at offset 0 starts the run: every chunk once, in order, no byte twice.
        #expect(r.last.allSatisfy { $0.sequential })
        #expect(r.last.map { $0.start / mib } == Array(0...64), "each chunk once, in order")
        #expect(r.bytes == Int(size))
        readAhead.close()
    }

    /// Only a whole buffer read first at offset 0 starts a run: a header read there (qemu-img) fetches
    /// the image's first 256 KiB, a random reader's first read its bytes, and a long read elsewhere is
    /// no start.
    @Test func aCopysFirstReadStartsTheRun() async throws {
        let mib = Self.mib
        for (offset, count, run) in [(0, 128 << 10, true), (0, 1 << 20, true), (0, 16 << 10, false), (0, 65536, false), (5 * mib, 1 << 20, false)] {
            let r = Recorder()
            let readAhead = r.make(size: 64 * mib)
            #expect(try await readAhead.read(at: offset, count: count).array == Self.expected(offset, count))
            if run {
                #expect(r.last.map(\.start) == [0] && r.last.map(\.length) == [Int(mib)] && r.last.allSatisfy { $0.sequential })
            } else if offset == 0 {
                #expect(r.last.map(\.start) == [0] && r.last.map(\.length) == [256 << 10] && !r.last.contains { $0.sequential })
            } else {
                #expect(r.last.map(\.start) == [offset] && r.last.map(\.length) == [count] && !r.last.contains { $0.sequential })
            }
            readAhead.close()
        }
        // Not for a second read at 0 (a reader going back to the header).
        let r = Recorder()
        let readAhead = r.make(size: 64 * mib)
        _ = try await readAhead.read(at: 30 * mib, count: 65536)
        r.reset()
        _ = try await readAhead.read(at: 0, count: 1 << 20)
        #expect(r.last.map(\.length) == [1 << 20] && !r.last.contains { $0.sequential })
        readAhead.close()
    }

    /// `glance_storefs_readahead_bytes` is the sum of the chunks held: up by each chunk fetched
    /// (the last one short), down as chunks are served in full, dropped or closed; a random read
    /// holds nothing.
    @Test func heldBytesFollowTheChunksKept() async throws {
        let mib = Self.mib, r = Recorder(), size = 10 * mib + 300
        let readAhead = r.make(size: size, depth: 3, store: "test-held")
        #expect(readAhead.heldBytes == 0)
        _ = try await readAhead.read(at: 1, count: 9)  // not at 0: no header read
        #expect(readAhead.heldBytes == 0)
        _ = try await readAhead.read(at: 10, count: 100)
        #expect(readAhead.heldBytes == 0)
        _ = try await readAhead.read(at: 110, count: 100)
        // The run: chunk 0 being read.
        #expect(readAhead.heldBytes == Int64(mib))
        _ = try await readAhead.read(at: 210, count: Int(mib) - 210)
        // Chunk 0 served to its end but its first bytes came by the random reads: kept in the window;
        // one chunk ahead.
        #expect(readAhead.heldBytes == Int64(2 * mib))
        var offset = mib
        while offset < size {
            let count = Int(min(mib, size - offset))
            _ = try await readAhead.read(at: offset, count: count)
            offset += UInt64(count)
        }
        #expect(readAhead.heldBytes >= 0 && readAhead.heldBytes <= Int64(4 * mib))
        readAhead.close()
        #expect(readAhead.heldBytes == 0)
    }

    /// Readers of one store share its budget: alone a run keeps its whole depth ahead, two at once
    /// half each, and the share comes back when the other one closes.
    @Test func sequentialReadersShareTheStoresBudget() async throws {
        let mib = Self.mib, budget = ReadAheadBudget(chunks: 4, floor: 1)
        let a = Recorder().make(size: 64 * mib, depth: 4, budget: budget, store: "test-budget")
        let b = Recorder().make(size: 64 * mib, depth: 4, budget: budget, store: "test-budget")
        var most: Int64 = 0
        for k in 0..<10 {
            _ = try await a.read(at: UInt64(k) * mib, count: Int(mib))
            most = max(most, a.heldBytes)
        }
        #expect(budget.activeRuns == 1)
        #expect(most >= Int64(4 * mib), "alone: 4 chunks ahead, \(most)")
        var mostA: Int64 = 0, mostB: Int64 = 0
        for k in 0..<10 {
            _ = try await b.read(at: UInt64(k) * mib, count: Int(mib))
            _ = try await a.read(at: UInt64(10 + k) * mib, count: Int(mib))
            if k >= 3 {  // once b's run is known and a let go of what it had ahead beyond its share
                mostA = max(mostA, a.heldBytes)
                mostB = max(mostB, b.heldBytes)
            }
        }
        #expect(budget.activeRuns == 2)
        #expect(mostA <= Int64(3 * mib) && mostB <= Int64(3 * mib), "two at once: 2 ahead each, \(mostA) and \(mostB)")
        b.close()
        #expect(budget.activeRuns == 1)
        most = 0
        for k in 20..<30 {
            _ = try await a.read(at: UInt64(k) * mib, count: Int(mib))
            most = max(most, a.heldBytes)
        }
        #expect(most >= Int64(4 * mib), "alone again: \(most)")
        a.close()
        #expect(budget.activeRuns == 0)
    }
}
