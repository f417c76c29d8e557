import Logging
import Synchronization

/// Glance's catalogue as the mount sees it: fetched whole (a few pages, not a request per file),
/// kept for `freshness`, then fetched again in the background while the old one still answers.
/// Glance unreachable never holds a file-system request: an image is then `.unavailable`, and one
/// log line says why (one more when the catalogue is back).
public final class ImageCatalogue: Sendable {
    public enum Lookup: Sendable, Equatable {
        case known(CatalogueImage)
        /// Glance answered and does not know this image.
        case unknown
        /// Glance could not be asked (never reached, or not since its last answer expired).
        case unavailable
    }

    private struct State {
        var images: [String: CatalogueImage]?
        var fetched: ContinuousClock.Instant?
        var refreshing: Task<Void, Never>?
        var failure: String?
        /// A lookup already waited `firstWait` for the running fetch in vain: later ones do not wait
        /// (a hung Glance costs one wait per fetch, not one per request).
        var waitedInVain = false
        /// For tests: fetches started, and lookups that waited for one.
        var fetches = 0
        var waits = 0
    }

    private let client: GlanceClient
    private let logger: Logger
    private let freshness: Duration
    /// How long a lookup waits for a first answer before giving up on this request.
    private let firstWait: Duration
    private let state = Mutex(State())

    public init(client: GlanceClient, logger: Logger, freshness: Duration = .seconds(30), firstWait: Duration = .seconds(5)) {
        self.client = client
        self.logger = logger
        self.freshness = freshness
        self.firstWait = firstWait
    }

    /// Fetches started and lookups that waited for one (for tests: timing is not theirs to judge).
    var counts: (fetches: Int, waits: Int) { state.withLock { ($0.fetches, $0.waits) } }

    /// Starts the first fetch (the mount calls this as it starts, so that the first `getfattr` finds it).
    public func prefetch() { _ = refreshIfStale() }

    public func lookup(_ id: String) async -> Lookup {
        if let task = refreshIfStale(), state.withLock({ s in
            guard s.images == nil && !s.waitedInVain else { return false }
            s.waits += 1
            return true
        }) {
            // Nothing known yet: wait for this fetch, a bounded while.
            // Not a task group: leaving one waits for all its children, the hung fetch included.
            let answered = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let resumed = Mutex(false)
                let resume = { @Sendable (value: Bool) in
                    if resumed.withLock({ done in defer { done = true }; return !done }) { continuation.resume(returning: value) }
                }
                let timer = Task { [firstWait] in
                    try? await Task.sleep(for: firstWait)
                    resume(false)
                }
                Task {
                    await task.value
                    timer.cancel()
                    resume(true)
                }
            }
            if !answered { state.withLock { $0.waitedInVain = true } }
        }
        return state.withLock { s in
            guard let images = s.images else { return .unavailable }
            return images[id].map { .known($0) } ?? .unknown
        }
    }

    /// The running or newly started fetch when the catalogue is missing or old; nil when fresh.
    private func refreshIfStale() -> Task<Void, Never>? {
        state.withLock { s in
            if let fetched = s.fetched, ContinuousClock.now - fetched < freshness { return nil }
            if let running = s.refreshing { return running }
            let task = Task { await self.refresh() }
            s.refreshing = task
            s.waitedInVain = false
            s.fetches += 1
            return task
        }
    }

    private func refresh() async {
        do throws(StoreError) {
            let images = try await client.images()
            let back = state.withLock { s in
                s.images = Dictionary(images.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
                s.fetched = .now
                s.refreshing = nil
                defer { s.failure = nil }
                return s.failure != nil
            }
            if back { logger.notice("Glance's catalogue answers again", metadata: ["source": "\(client.source)", "images": "\(images.count)"]) }
        } catch {
            let message = "\(error)"
            let first = state.withLock { s in
                // An answer that old is no longer shown: the catalogue may have changed since.
                if let fetched = s.fetched, ContinuousClock.now - fetched > freshness * 10 { s.images = nil }
                // Tried again at the next lookup after `freshness`, not at every request.
                s.fetched = .now
                s.refreshing = nil
                defer { s.failure = message }
                return s.failure == nil
            }
            if first {
                logger.warning("Glance's catalogue cannot be read; user.glance.image.* are absent until it can",
                               metadata: ["source": "\(client.source)", "error": "\(message)"])
            }
        }
    }
}
