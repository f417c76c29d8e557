import NIOCore

/// Bytes of a read as the network delivered them: a list of buffers, handed to the kernel as an
/// iovec list so that no copy is made in this process between the socket and /dev/fuse.
public struct ImageBytes: Sendable {
    var buffers: [ByteBuffer]

    init(_ buffers: [ByteBuffer] = []) { self.buffers = buffers }

    public var count: Int { buffers.reduce(0) { $0 + $1.readableBytes } }

    /// A copy, for callers that want an array.
    public var array: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        for buffer in buffers { out.append(contentsOf: buffer.readableBytesView) }
        return out
    }

    /// Every segment's memory at once, valid only inside `body`.
    public func withSegments<R>(_ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
        var pointers: [UnsafeRawBufferPointer] = []
        pointers.reserveCapacity(buffers.count)
        return try Self.nest(buffers[...], &pointers, body)
    }

    private static func nest<R>(_ rest: ArraySlice<ByteBuffer>, _ pointers: inout [UnsafeRawBufferPointer],
                                _ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
        guard let first = rest.first else { return try body(pointers) }
        return try first.withUnsafeReadableBytes { raw in
            pointers.append(raw)
            return try nest(rest.dropFirst(), &pointers, body)
        }
    }

    /// The bytes in `range` (relative to the start), sharing storage.
    func slice(_ range: Range<Int>) -> ImageBytes {
        var out: [ByteBuffer] = []
        var position = 0
        for buffer in buffers {
            let length = buffer.readableBytes
            let from = max(range.lowerBound, position), to = min(range.upperBound, position + length)
            if from < to, let piece = buffer.getSlice(at: buffer.readerIndex + from - position, length: to - from) {
                out.append(piece)
            }
            position += length
            if position >= range.upperBound { break }
        }
        return ImageBytes(out)
    }

    mutating func append(_ other: ImageBytes) { buffers.append(contentsOf: other.buffers) }
}

/// An optional reader feature: data returned as the network's own buffers, not copied into an array.
public protocol BufferedImageReader: ImageReader {
    func readBuffers(at offset: UInt64, count: Int) async throws(StoreError) -> ImageBytes
}
