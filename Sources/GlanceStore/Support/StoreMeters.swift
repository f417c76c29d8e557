import CoreMetrics
import CSystemShims
import Glibc
import Synchronization

/// What is counted per store, through swift-metrics: nothing is kept unless the process bootstrapped
/// a metrics backend (`-o metrics=` does, before any store opens), so every instance costs nothing
/// in a mount without metrics. One instance per store id for the process, made on first use: the
/// file system, its write sessions and the drivers' read-ahead count into the same series.
public final class StoreMeters: Sendable {
    public let storeID: String
    /// Image bytes returned to readers and taken from writers through the file system.
    public let bytesRead: Counter
    public let bytesWritten: Counter
    /// Images made visible under their name, and writes given up with nothing published.
    public let published: Counter
    public let aborted: Counter
    /// Bytes the drivers' read-ahead holds (fetched or being fetched) for open readers.
    let readAheadBytes: Meter
    /// Made on first use of an operation and outcome, then found again: `record` runs for every
    /// request of the file system to the store (every FUSE read of a network store), so it makes
    /// no string and takes one lock.
    private struct Outcome: Hashable { let operation: String; let errno: Int32 }
    private let series = Mutex<[Outcome: (requests: Counter, latency: Timer)]>([:])

    public static let names = (
        bytesRead: "glance_storefs_read_bytes_total",
        bytesWritten: "glance_storefs_written_bytes_total",
        published: "glance_storefs_images_published_total",
        aborted: "glance_storefs_images_aborted_total",
        readAhead: "glance_storefs_readahead_bytes",
        requests: "glance_storefs_store_requests_total",
        latency: "glance_storefs_store_request_duration_seconds"
    )

    private init(storeID: String) {
        self.storeID = storeID
        let store = [("store", storeID)]
        bytesRead = Counter(label: Self.names.bytesRead, dimensions: store)
        bytesWritten = Counter(label: Self.names.bytesWritten, dimensions: store)
        published = Counter(label: Self.names.published, dimensions: store)
        aborted = Counter(label: Self.names.aborted, dimensions: store)
        readAheadBytes = Meter(label: Self.names.readAhead, dimensions: store)
    }

    private static let all = Mutex<[String: StoreMeters]>([:])

    public static func of(_ storeID: String) -> StoreMeters {
        all.withLock { all in
            if let meters = all[storeID] { return meters }
            let meters = StoreMeters(storeID: storeID)
            all[storeID] = meters
            return meters
        }
    }

    /// One request of the file system to the store (`operation`: stat, list, open, read, write,
    /// publish, delete, rename, ...): counted by outcome ("ok" or the errno's name) and timed.
    public func record(_ operation: String, errno: Int32?, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let key = Outcome(operation: operation, errno: errno ?? 0)
        let (requests, latency) = series.withLock { series in
            if let found = series[key] { return found }
            let outcome = errno.map(Self.errnoName) ?? "ok"
            let made = (Counter(label: Self.names.requests, dimensions: [("store", storeID), ("operation", operation), ("outcome", outcome)]),
                        Timer(label: Self.names.latency, dimensions: [("store", storeID), ("operation", operation)]))
            series[key] = made
            return made
        }
        requests.increment()
        latency.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }

    /// ENOENT, EIO...: what an operator greps for (glibc's strerrorname_np).
    static func errnoName(_ code: Int32) -> String {
        guard let name = storefs_errno_name(code) else { return "E\(code)" }
        return String(cString: name)
    }
}
