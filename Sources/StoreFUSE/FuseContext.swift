import CFuse
import CoreMetrics
import Logging
import StoreFS
import Synchronization

/// What every callback reaches through `fuse_req_userdata`: the file system and the session (for
/// cache invalidation notices). Set up before the session starts; the session pointer is written
/// once, before any request.
final class FuseContext: Sendable {
    let fs: StoreFilesystem
    let logger: Logger
    let traceRequests: Bool
    let mountpoint: String
    /// The `max_read` mount option, which INIT must repeat (libfuse refuses a mismatch).
    let maxRead: Int
    /// Which local images' opens the kernel reads by itself.
    let passthrough: Passthrough
    private let sessionBits = Mutex<UInt>(0)
    /// Requests being answered from Tasks: the session may be destroyed only once none is left
    /// (a reply after that would use freed memory).
    let inFlight = Atomic<Int>(0)
    /// The same count for `glance_storefs_fuse_requests_in_flight` (nothing kept without metrics).
    let inFlightMeter = Meter(label: "glance_storefs_fuse_requests_in_flight")
    /// Requests answered from Tasks so far: whether the mount was busy (IdleMemory).
    let requests = Atomic<UInt64>(0)

    init(fs: StoreFilesystem, logger: Logger, traceRequests: Bool, mountpoint: String, maxRead: Int, passthrough: Bool) {
        self.fs = fs
        self.passthrough = Passthrough(wanted: passthrough)
        self.maxRead = maxRead
        self.mountpoint = mountpoint
        self.logger = logger
        self.traceRequests = traceRequests
    }

    var session: OpaquePointer? {
        get { OpaquePointer(bitPattern: sessionBits.withLock { $0 }) }
    }

    func setSession(_ session: OpaquePointer?) {
        sessionBits.withLock { $0 = UInt(bitPattern: session.map { Int(bitPattern: UnsafeRawPointer($0)) } ?? 0) }
    }

    static func of(_ req: fuse_req_t?) -> FuseContext {
        Unmanaged<FuseContext>.fromOpaque(fuse_req_userdata(req)!).takeUnretainedValue()
    }
}

/// A request handle that crosses into a Task; libfuse allows replying from any thread.
struct Request: @unchecked Sendable {
    let raw: fuse_req_t?
    init(_ raw: fuse_req_t?) { self.raw = raw }
}
