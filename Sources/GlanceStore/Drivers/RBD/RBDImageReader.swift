import CRBD
import NIOCore

/// Reads an RBD image in chunks of its object size, fetched ahead for sequential readers (librbd's
/// own read-ahead stops after the first 50 MiB) with librbd's asynchronous reads, several objects at once.
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
                var buffer = ByteBufferAllocator().buffer(capacity: length)
                // The storage stays put: the buffer is this task's alone and not touched until
                // librbd is done with it.
                let memory = buffer.withUnsafeMutableWritableBytes { UnsafeMutableRawBufferPointer(rebasing: $0[..<length]) }
                let rc = await RBDAsync.read(image, offset: start, into: memory)
                guard rc >= 0 else { throw RBDCluster.error(Int32(rc), image: name, "reading") }
                buffer.moveWriterIndex(forwardBy: rc)
                return ImageBytes([buffer])
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
