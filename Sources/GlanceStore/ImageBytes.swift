import NIOCore

/// Bytes of a read as the backend delivered them: a list of pieces (NIO's buffers for http and
/// swift, librbd's own buffers for rbd), handed to the kernel as an iovec list so that no copy is
/// made in this process between the backend and /dev/fuse.
public struct ImageBytes: Sendable {
    private var pieces: [Piece]

    private enum Piece: Sendable {
        case buffer(ByteBuffer)
        case external(ExternalSlice)

        var count: Int {
            switch self {
            case .buffer(let buffer): buffer.readableBytes
            case .external(let slice): slice.count
            }
        }
    }

    init(_ buffers: [ByteBuffer] = []) { pieces = buffers.map(Piece.buffer) }

    /// Memory a library filled (its segments in order), kept until the last slice of it is gone.
    init(owner: ExternalMemory, segments: [UnsafeRawBufferPointer]) {
        pieces = segments.filter { !$0.isEmpty }.map { .external(ExternalSlice(owner: owner, base: $0.baseAddress!, count: $0.count)) }
    }

    public var count: Int { pieces.reduce(0) { $0 + $1.count } }

    /// A copy, for callers that want an array.
    public var array: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        withSegments { segments in segments.forEach { out.append(contentsOf: $0) } }
        return out
    }

    /// Every segment's memory at once, valid only inside `body`.
    public func withSegments<R>(_ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
        var pointers: [UnsafeRawBufferPointer] = []
        pointers.reserveCapacity(pieces.count)
        return try Self.nest(pieces[...], &pointers, body)
    }

    private static func nest<R>(_ rest: ArraySlice<Piece>, _ pointers: inout [UnsafeRawBufferPointer],
                                _ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
        switch rest.first {
        case nil:
            return try body(pointers)
        case .buffer(let buffer):
            return try buffer.withUnsafeReadableBytes { raw in
                pointers.append(raw)
                return try nest(rest.dropFirst(), &pointers, body)
            }
        case .external(let slice):
            // The owner, held by `rest`, keeps the memory for the whole call.
            pointers.append(UnsafeRawBufferPointer(start: slice.base, count: slice.count))
            return try nest(rest.dropFirst(), &pointers, body)
        }
    }

    /// The bytes in `range` (relative to the start), sharing storage.
    func slice(_ range: Range<Int>) -> ImageBytes {
        var out = ImageBytes()
        var position = 0
        for piece in pieces {
            let length = piece.count
            let from = max(range.lowerBound, position) - position, to = min(range.upperBound, position + length) - position
            if from < to {
                switch piece {
                case .buffer(let buffer):
                    if let part = buffer.getSlice(at: buffer.readerIndex + from, length: to - from) { out.pieces.append(.buffer(part)) }
                case .external(let slice):
                    out.pieces.append(.external(ExternalSlice(owner: slice.owner, base: slice.base + from, count: to - from)))
                }
            }
            position += length
            if position >= range.upperBound { break }
        }
        return out
    }

    mutating func append(_ other: ImageBytes) { pieces.append(contentsOf: other.pieces) }

    mutating func append(_ buffer: ByteBuffer) { pieces.append(.buffer(buffer)) }
}

/// Memory allocated by a driver's library, given back (by `release`) when the last piece of an
/// `ImageBytes` that refers to it goes.
final class ExternalMemory: Sendable {
    private let release: @Sendable () -> Void

    init(release: @escaping @Sendable () -> Void) { self.release = release }

    deinit { release() }
}

/// Part of an `ExternalMemory`. Sendable: the memory is not written once it is wrapped, and lives
/// as long as `owner`.
private struct ExternalSlice: @unchecked Sendable {
    let owner: ExternalMemory
    let base: UnsafeRawPointer
    let count: Int
}

/// An optional reader feature: data returned as the backend's own buffers, not copied into an array.
public protocol BufferedImageReader: ImageReader {
    func readBuffers(at offset: UInt64, count: Int) async throws(StoreError) -> ImageBytes
}

extension BufferedImageReader {
    /// A copy of the buffers, for callers that want an array.
    public func read(at offset: UInt64, count: Int) async throws(StoreError) -> [UInt8] {
        try await readBuffers(at: offset, count: count).array
    }
}
