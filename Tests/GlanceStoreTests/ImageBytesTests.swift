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

/// What the read-ahead tells a driver: chunks of a sequential run are marked so (rbd hints the
/// OSDs with it), a read far from the last one is not.
@Suite struct ReadAheadTests {
    @Test func marksSequentialRuns() async throws {
        let fetched = Mutex<[UInt64: Bool]>([:])
        let chunk: UInt64 = 1000
        let readAhead = ReadAhead(size: 100 * chunk, chunkSize: chunk, depth: 2, describe: "test", meters: .of("test")) { index, sequential in
            fetched.withLock { $0[index] = sequential }
            return Task { ImageBytes([ByteBuffer(repeating: UInt8(index), count: Int(chunk))]) }
        }
        // A jump to the middle is not a sequential run: only its own chunk.
        #expect(try await readAhead.read(at: 50 * chunk, count: 10).array == Array(repeating: 50, count: 10))
        #expect(fetched.withLock { $0 } == [50: false])
        // Going on from there is: the next chunks are fetched ahead, marked sequential.
        #expect(try await readAhead.read(at: 50 * chunk + 10, count: Int(chunk)).count == Int(chunk))
        let ahead = fetched.withLock { $0 }
        #expect(ahead[51] == true && ahead[52] == true && ahead[53] == true && ahead[54] == nil)
        // Another far jump: unmarked again.
        _ = try await readAhead.read(at: 10 * chunk, count: 10)
        #expect(fetched.withLock { $0[10] } == false)
        readAhead.close()
    }

    /// `glance_storefs_readahead_bytes` is the sum of the chunks held: up by each chunk fetched
    /// (the last one short), down as chunks are served in full, dropped or closed, never negative.
    @Test func heldBytesFollowTheChunksKept() async throws {
        let chunk: UInt64 = 1000, size = 10 * chunk + 300
        let readAhead = ReadAhead(size: size, chunkSize: chunk, depth: 3, describe: "test", meters: .of("test-held")) { index, _ in
            Task { ImageBytes([ByteBuffer(repeating: 1, count: Int(min(size, (index + 1) * chunk) - index * chunk))]) }
        }
        #expect(readAhead.heldBytes == 0)
        _ = try await readAhead.read(at: 0, count: 10)
        // Chunk 0 being read, 1...3 ahead.
        #expect(readAhead.heldBytes == Int64(4 * chunk))
        _ = try await readAhead.read(at: 10, count: Int(chunk) - 10)
        // Chunk 0 served in full and let go; 1...3 still ahead.
        #expect(readAhead.heldBytes == Int64(3 * chunk))
        _ = try await readAhead.read(at: 9 * chunk, count: 10)
        _ = try await readAhead.read(at: 9 * chunk + 10, count: Int(chunk + 290))
        // Served to the end: only what the window kept behind the head, the short last chunk gone.
        #expect(readAhead.heldBytes >= 0 && readAhead.heldBytes % Int64(chunk) == 0)
        readAhead.close()
        #expect(readAhead.heldBytes == 0)
    }
}
