import CRBD
import Glibc
import Synchronization

/// librbd's asynchronous writes as an async function: no thread waits while an object travels to
/// the OSDs. Writes take the caller's buffer as it is (zero-copy writes are enabled for the
/// connection: the buffer stays untouched until the completion, which `ObjectBuffer`'s owner
/// guarantees by giving it back only then). Reads: `RBDReadOnlyImage`.
enum RBDAsync {
    /// The bytes written, or a negative errno.
    static func write(_ image: RBDImage, offset: UInt64, _ bytes: UnsafeRawBufferPointer) async -> Int {
        await run { completion in rbd_aio_write(image.handle, offset, bytes.count, bytes.baseAddress, completion) }
    }

    private static func run(_ start: (rbd_completion_t?) -> Int32) async -> Int {
        await CallbackContinuation.wait({ argument in
            var completion: rbd_completion_t?
            var rc = rbd_aio_create_completion(argument, { completion, argument in
                let rc = rbd_aio_get_return_value(completion)
                rbd_aio_release(completion)
                CallbackContinuation.resume(argument, returning: Int(rc))
            }, &completion)
            if rc == 0 {
                rc = start(completion)
                if rc < 0 { rbd_aio_release(completion) }
            }
            return rc
        }, failed: { Int($0) })
    }
}

/// A C library's completion callback as an async result. `start` hands the opaque argument it is
/// given to the library, whose callback passes it back to `resume`; when `start` fails (a negative
/// errno) no callback comes and `failed` makes the result.
enum CallbackContinuation {
    static func wait<T: Sendable>(_ start: (UnsafeMutableRawPointer) -> Int32, failed: (Int32) -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            let box = Unmanaged.passRetained(Box(continuation)).toOpaque()
            let rc = start(box)
            if rc < 0 {
                Unmanaged<Box<T>>.fromOpaque(box).release()
                continuation.resume(returning: failed(rc))
            }
        }
    }

    /// Called once, from the library's callback, with the argument `start` handed over.
    static func resume<T: Sendable>(_ argument: UnsafeMutableRawPointer?, returning value: T) {
        Unmanaged<Box<T>>.fromOpaque(argument!).takeRetainedValue().continuation.resume(returning: value)
    }

    private final class Box<T: Sendable> {
        let continuation: CheckedContinuation<T, Never>
        init(_ continuation: CheckedContinuation<T, Never>) { self.continuation = continuation }
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

/// Object-sized buffers kept for the store's writers while any is writing: memory fresh from the
/// system costs a page fault and a zeroed page for every 4 KiB, a visible share of a core at
/// hundreds of MB/s. Up to `kept` buffers are kept (one writer's worth); more writers at once
/// allocate the rest. When the last writer ends, every kept buffer goes back to the system.
final class ObjectBufferPool: Sendable {
    let objectSize: Int
    private let kept: Int
    private struct State {
        var free: [UnsafeMutableRawPointer] = []
        var writers = 0
    }
    private let state = Mutex(State())

    init(objectSize: Int, kept: Int) {
        self.objectSize = objectSize
        self.kept = kept
    }

    deinit { state.withLock { for base in $0.free { release(base) } } }

    func writerStarted() { state.withLock { $0.writers += 1 } }

    func writerEnded() {
        let released = state.withLock { state -> [UnsafeMutableRawPointer] in
            state.writers -= 1
            guard state.writers == 0 else { return [] }
            defer { state.free = [] }
            return state.free
        }
        for base in released { release(base) }
    }

    func take() throws(StoreError) -> ObjectBuffer {
        if let base = state.withLock({ $0.free.popLast() }) { return ObjectBuffer(base: base, capacity: objectSize) }
        return ObjectBuffer(base: try allocate(), capacity: objectSize)
    }

    func give(_ buffer: ObjectBuffer) {
        let keep = state.withLock { state in
            guard state.writers > 0, state.free.count < kept else { return false }
            state.free.append(buffer.base)
            return true
        }
        if !keep { release(buffer.base) }
    }

    // Mapped, not malloc'd: unmapped memory goes back to the system at once, where freed heap
    // memory would stay with the process.
    private func allocate() throws(StoreError) -> UnsafeMutableRawPointer {
        guard let base = mmap(nil, objectSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              base != MAP_FAILED else { throw .io(errno: ENOMEM, "a buffer of \(objectSize) bytes for writing") }
        return base
    }

    private func release(_ base: UnsafeMutableRawPointer) { munmap(base, objectSize) }
}
