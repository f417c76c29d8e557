import Synchronization

/// The chunks a store's sequential readers may hold between them: each run gets an equal share, at
/// most its own depth and at least `floor`. Four `cp` of rbd images at once each held 8 objects
/// ahead plus the one read (9 × 8 MiB): 309 MiB for the daemon, over its 256 MiB target.
public final class ReadAheadBudget: Sendable {
    /// Chunks ahead of every run together.
    public let chunks: UInt64
    /// What a run keeps ahead however many there are (fewer starves the backend of requests).
    public let floor: UInt64
    private let runs = Atomic<Int>(0)

    public init(chunks: UInt64, floor: UInt64 = 2) {
        self.chunks = chunks
        self.floor = floor
    }

    /// A reader's sequential run began or ended.
    func join() { runs.add(1, ordering: .relaxed) }
    func leave() { runs.subtract(1, ordering: .relaxed) }

    /// The chunks one run may keep ahead now.
    func depth(upTo most: UInt64) -> UInt64 {
        let share = chunks / UInt64(max(1, runs.load(ordering: .relaxed)))
        return max(min(floor, most), min(most, share))
    }

    var activeRuns: Int { runs.load(ordering: .relaxed) }
}
