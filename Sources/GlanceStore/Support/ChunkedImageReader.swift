import Synchronization

/// An image read in fixed chunks that a driver fetches (`fetch(start, length, sequential)`), ahead
/// of sequential readers by `depth` chunks (ReadAhead): what the block drivers share (rbd images,
/// cinder volumes). `onClose` runs once, at the first close (a cinder read attachment let go).
final class ChunkedImageReader: BufferedImageReader {
    let size: UInt64
    private let chunks: ReadAhead
    private let onClose: (@Sendable () -> Void)?
    private let closed = Mutex(false)

    init(size: UInt64, chunkSize: UInt64, depth: UInt64, budget: ReadAheadBudget? = nil, describe: String, meters: StoreMeters,
         fetch: @escaping @Sendable (_ start: UInt64, _ length: Int, _ sequential: Bool) async throws(StoreError) -> ImageBytes,
         onClose: (@Sendable () -> Void)? = nil) {
        self.size = size
        self.onClose = onClose
        chunks = ReadAhead(size: size, chunkSize: chunkSize, depth: depth, budget: budget, describe: describe, meters: meters) { start, length, sequential in
            Task { try await fetch(start, length, sequential) }
        }
    }

    func readBuffers(at offset: UInt64, count: Int) async throws(StoreError) -> ImageBytes {
        try await chunks.read(at: offset, count: count)
    }

    func close() async {
        chunks.close()
        if closed.withLock({ c in defer { c = true }; return !c }) { onClose?() }
    }
}
