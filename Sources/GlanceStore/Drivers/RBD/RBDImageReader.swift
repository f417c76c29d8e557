import CRBD
import NIOCore

/// Reads an RBD image in chunks of its object size, fetched ahead for sequential readers (librbd's
/// own read-ahead stops after the first 50 MiB) on blocking threads, several objects at once.
/// Each chunk is read straight into the buffer the FUSE reply hands to the kernel.
final class RBDImageReader: BufferedImageReader {
    let size: UInt64
    private let image: RBDImage
    private let chunks: ReadAhead

    /// Objects in flight ahead of a sequential reader.
    static let depth: UInt64 = 4

    init(image: RBDImage, size: UInt64, chunkSize: UInt64, name: String) {
        self.image = image
        self.size = size
        chunks = ReadAhead(size: size, chunkSize: chunkSize, depth: Self.depth, describe: "rbd image \(name)") { index in
            let start = index * chunkSize, length = Int(min(size, start + chunkSize) - start)
            return Task {
                try await BlockingIO.run { () throws(StoreError) -> ImageBytes in
                    var buffer = ByteBufferAllocator().buffer(capacity: length)
                    var rc = 0
                    buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { raw in
                        rc = rbd_read(image.handle, start, length, raw.baseAddress)
                        return max(rc, 0)
                    }
                    guard rc >= 0 else { throw RBDCluster.error(Int32(rc), image: name, "reading") }
                    return ImageBytes([buffer])
                }
            }
        }
    }

    func read(at offset: UInt64, count: Int) async throws(StoreError) -> [UInt8] {
        try await readBuffers(at: offset, count: count).array
    }

    func readBuffers(at offset: UInt64, count: Int) async throws(StoreError) -> ImageBytes {
        try await chunks.read(at: offset, count: count)
    }

    func close() async { chunks.close() }
}
