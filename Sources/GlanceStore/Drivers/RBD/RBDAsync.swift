import CRBD
import Synchronization

/// librbd's asynchronous writes as async functions: no thread waits while an object travels to
/// the OSDs, and librbd takes the caller's buffer as it is (zero-copy writes are enabled for the
/// connection: the buffer stays untouched until the completion, which `ObjectBuffer`'s owner
/// guarantees by freeing it only afterwards).
enum RBDAsync {
    /// The bytes written, or a negative errno.
    static func write(_ image: RBDImage, offset: UInt64, _ bytes: UnsafeRawBufferPointer) async -> Int {
        await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
            let box = Unmanaged.passRetained(Completion(continuation)).toOpaque()
            var completion: rbd_completion_t?
            var rc = rbd_aio_create_completion(box, { completion, argument in
                let box = Unmanaged<Completion>.fromOpaque(argument!).takeRetainedValue()
                let rc = rbd_aio_get_return_value(completion)
                rbd_aio_release(completion)
                box.continuation.resume(returning: Int(rc))
            }, &completion)
            if rc == 0 {
                rc = rbd_aio_write(image.handle, offset, bytes.count, bytes.baseAddress, completion)
                if rc < 0 { rbd_aio_release(completion) }
            }
            if rc < 0 {
                Unmanaged<Completion>.fromOpaque(box).release()
                continuation.resume(returning: Int(rc))
            }
        }
    }

    private final class Completion {
        let continuation: CheckedContinuation<Int, Never>
        init(_ continuation: CheckedContinuation<Int, Never>) { self.continuation = continuation }
    }
}

/// One object's bytes gathered from the write requests, in memory of its own (not an array: it
/// is handed to librbd without a copy and given back to its pool once librbd is done with it).
/// Owned by one writer, then by the one write that sends it.
struct ObjectBuffer: @unchecked Sendable {
    fileprivate let base: UnsafeMutableRawPointer
    let capacity: Int
    private(set) var count = 0

    fileprivate init(base: UnsafeMutableRawPointer, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count == capacity }
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Copies as much of `source` as fits; returns how much.
    mutating func append(_ source: ArraySlice<UInt8>) -> Int {
        let taken = min(source.count, capacity - count)
        source.withUnsafeBytes { (base + count).copyMemory(from: $0.baseAddress!, byteCount: taken) }
        count += taken
        return taken
    }
}

/// Object-sized buffers kept for the store's writers: memory fresh from the system costs a page
/// fault and a zeroed page for every 4 KiB, which at hundreds of MB/s is a visible share of a core.
/// Up to `kept` buffers are kept (one writer's worth); more writers at once allocate the rest.
final class ObjectBufferPool: Sendable {
    let objectSize: Int
    private let kept: Int
    private let free = Mutex<[UnsafeMutableRawPointer]>([])

    init(objectSize: Int, kept: Int) {
        self.objectSize = objectSize
        self.kept = kept
    }

    deinit { free.withLock { for base in $0 { base.deallocate() } } }

    func take() -> ObjectBuffer {
        let base = free.withLock { $0.popLast() } ?? UnsafeMutableRawPointer.allocate(byteCount: objectSize, alignment: 4096)
        return ObjectBuffer(base: base, capacity: objectSize)
    }

    func give(_ buffer: ObjectBuffer) {
        let keep = free.withLock { list in
            guard list.count < kept else { return false }
            list.append(buffer.base)
            return true
        }
        if !keep { buffer.base.deallocate() }
    }
}
