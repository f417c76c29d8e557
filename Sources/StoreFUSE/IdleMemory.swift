import Glibc
import Synchronization

/// Memory freed after a burst of requests stays with the allocator for reuse (tcmalloc, which the
/// daemon links, gives it back slowly): after ten minutes of load across all stores the daemon held
/// 726 MiB with nothing open. Once the mount has been idle for a while (requests were answered,
/// then none came and none is in flight) the free memory goes back to the system, so an idle mount
/// is small again. Found at run time: tcmalloc's call where it is linked, glibc's otherwise.
enum IdleMemory {
    /// tcmalloc's MallocExtension_ReleaseFreeMemory, else glibc's malloc_trim(0).
    private static let releaseFreeMemory: @Sendable () -> Void = {
        let any = UnsafeMutableRawPointer(bitPattern: 0)  // RTLD_DEFAULT
        if let f = dlsym(any, "MallocExtension_ReleaseFreeMemory") {
            let release = unsafeBitCast(f, to: (@convention(c) () -> Void).self)
            return { release() }
        }
        if let f = dlsym(any, "malloc_trim") {
            let trim = unsafeBitCast(f, to: (@convention(c) (Int) -> Int32).self)
            return { _ = trim(0) }
        }
        return {}
    }()

    static func releaseWhenIdle(_ context: FuseContext, after seconds: Int = 10) -> Task<Void, Never> {
        Task.detached(priority: .background) {
            var seen = context.requests.load(ordering: .relaxed)
            var busySinceRelease = false
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(seconds))
                let now = context.requests.load(ordering: .relaxed)
                if now != seen {
                    seen = now
                    busySinceRelease = true
                } else if busySinceRelease, context.inFlight.load(ordering: .relaxed) == 0 {
                    releaseFreeMemory()
                    busySinceRelease = false
                }
            }
        }
    }
}
