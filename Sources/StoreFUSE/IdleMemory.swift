import GlanceStore
import Synchronization

/// Memory freed after a burst of requests stays with the allocator for reuse (tcmalloc, which the
/// daemon links, gives it back slowly): after ten minutes of load across all stores the daemon held
/// 726 MiB with nothing open. Once the mount has been idle for a while (requests were answered,
/// then none came and none is in flight) the free memory goes back to the system, so an idle mount
/// is small again (FreeMemory).
enum IdleMemory {
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
                    FreeMemory.release()
                    busySinceRelease = false
                }
            }
        }
    }
}
