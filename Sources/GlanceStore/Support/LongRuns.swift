import Synchronization

/// The process's long reads (a reader whose fetched chunks add up to `threshold` bytes or more):
/// when the last one ends, the memory their chunks were freed into goes back to the system.
/// tcmalloc reuses it poorly from one burst of readers to the next: three rounds of four parallel
/// readers of 256 MiB rbd images peaked at 163, 171 and 195 MiB (67 MiB once idle for 10 s, which
/// back-to-back copies never are), and the workload benchmark reached 282 MiB. A run shorter than
/// the threshold (rsync's 5 MiB images) gives nothing back: doing it per image would cost every
/// new buffer its page faults again (tcmalloc's aggressive decommit did, per write request).
public final class LongRuns: Sendable {
    public static let shared = LongRuns(release: FreeMemory.release)
    /// Bytes a run fetches before it counts as long.
    static let threshold: UInt64 = 64 << 20
    private let active = Atomic<Int>(0)
    private let release: @Sendable () -> Void

    init(release: @escaping @Sendable () -> Void) {
        self.release = release
    }

    var count: Int { active.load(ordering: .relaxed) }

    func began() { active.add(1, ordering: .relaxed) }

    /// At once, off the reader's path: released 200 ms later, a benchmark's next round of readers
    /// (after `sync` and `drop_caches`) had already begun, and its peak grew as with no release.
    func ended() {
        guard active.subtract(1, ordering: .relaxed).newValue == 0 else { return }
        Task.detached(priority: .background) { [self] in
            if active.load(ordering: .relaxed) == 0 { release() }
        }
    }
}
