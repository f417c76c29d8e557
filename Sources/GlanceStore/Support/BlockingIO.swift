import Dispatch

/// Runs blocking system calls off the Swift concurrency pool: a stalled disk (or NFS datadir) must
/// not starve the cooperative threads that every other store and the FUSE replies depend on.
package enum BlockingIO {
    private static let queue = DispatchQueue(label: "glance-storefs.blocking-io", attributes: .concurrent)

    package static func run<T: Sendable>(_ body: @escaping @Sendable () throws(StoreError) -> T) async throws(StoreError) -> T {
        let result: Result<T, StoreError> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Result { () throws(StoreError) -> T in try body() }) }
        }
        return try result.get()
    }
}
