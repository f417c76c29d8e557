import CRBDReads
import Glibc

/// RBD images are read in chunks of their object size, fetched ahead for sequential readers (librbd's
/// own read-ahead stops after the first 50 MiB) with librbd's asynchronous reads, several objects at
/// once. Each chunk stays in the buffers librbd received it in, which go to the kernel as they are.
enum RBDImageReader {
    /// Objects in flight ahead of a sequential reader (`rbd export` keeps 10). The OSD reads them
    /// from its disk: 8 read 1 GiB 5-23% faster than 4 in three side-by-side runs on the
    /// benchmark's cluster. 9 objects in memory: 72 MiB at Glance's 8 MiB.
    static let depth: UInt64 = 8
    /// Objects ahead of all of a store's sequential readers together: one keeps 8, two keep 6
    /// each, four keep 3 (4 × 8 MiB each in memory at Glance's 8 MiB, 128 MiB for the four, against
    /// 288 MiB with 8 each; four such readers still have 12 objects in flight, as many as the OSD
    /// serves at once here).
    static let budget: UInt64 = 12

    static func make(image: RBDReadOnlyImage, chunkSize: UInt64, budget: ReadAheadBudget, health: BackendHealth,
                     meters: StoreMeters) -> ChunkedImageReader {
        ChunkedImageReader(size: image.size, chunkSize: chunkSize, depth: depth, budget: budget, describe: "rbd image \(image.name)", meters: meters) { start, length, sequential throws(StoreError) in
            try await health.guarded { () throws(StoreError) in try await image.read(at: start, count: length, streaming: sequential) }
        }
    }
}

/// An image opened read-only through librbd's C++ API (`CRBDReads`), whose reads hand over
/// librbd's own buffers instead of copying them. Closed when the last reference goes: each read
/// in flight holds one.
final class RBDReadOnlyImage: @unchecked Sendable {
    let name: String
    let size: UInt64
    private let handle: OpaquePointer
    /// librados must not shut down under an open image.
    private let connection: RBDCluster.Connection

    init(_ c: RBDCluster.Connection, _ name: String) throws(StoreError) {
        var handle: OpaquePointer?
        var rc = storefs_rbd_reader_open(c.ioctx, name, &handle)
        guard rc == 0, let handle else { throw RBDCluster.error(rc, image: name, "opening") }
        var size: UInt64 = 0
        rc = storefs_rbd_reader_size(handle, &size)
        guard rc == 0 else {
            storefs_rbd_reader_close(handle)
            throw RBDCluster.error(rc, image: name, "size")
        }
        self.handle = handle
        self.name = name
        self.size = size
        connection = c
    }

    deinit { storefs_rbd_reader_close(handle) }

    /// `count` bytes at `offset` (fewer at the end of the image), in librbd's buffers. `streaming`:
    /// part of a sequential read, which the OSDs are told not to cache.
    func read(at offset: UInt64, count: Int, streaming: Bool) async throws(StoreError) -> ImageBytes {
        let (rc, extent) = await CallbackContinuation.wait({ argument in
            storefs_rbd_reader_read(handle, offset, count, streaming ? 1 : 0, { argument, result, extent in
                CallbackContinuation.resume(argument, returning: (result, extent.map(Extent.init)))
            }, argument)
        }, failed: { (Int($0), Extent?.none) })
        withExtendedLifetime(self) {}  // the image stays open while the read is in flight
        guard rc >= 0, let extent else { throw RBDCluster.error(Int32(rc), image: name, "reading") }
        let pointer = extent.pointer
        var segments = [iovec](repeating: iovec(), count: 4)
        let n = storefs_rbd_extent_segments(pointer, &segments, segments.count)
        if n > segments.count {
            segments = [iovec](repeating: iovec(), count: n)
            _ = storefs_rbd_extent_segments(pointer, &segments, n)
        }
        let owner = ExternalMemory { storefs_rbd_extent_free(extent.pointer) }
        return ImageBytes(owner: owner, segments: segments.prefix(n).map { UnsafeRawBufferPointer(start: $0.iov_base, count: $0.iov_len) })
    }

    /// The finished read's buffers, passed from librbd's thread to the reader.
    private struct Extent: @unchecked Sendable {
        let pointer: OpaquePointer
    }
}
