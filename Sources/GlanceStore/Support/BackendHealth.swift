import Foundation
import Logging
import Synchronization

/// Whether a backend answers, shared by every request that goes to it: the circuit breaker of a
/// store (or of one origin of an http store).
///
/// A request that got no answer after its bounded tries (refused, reset, timed out) marks the
/// backend down. From then on every request fails at once, without waiting for a timeout again,
/// while one probe at a time looks for the backend's return, `probeInterval` after the last one
/// ended; the first answer (the probe's, or that of a request that was already under way) marks it
/// up again. So an operation a user runs — a whole `cat`, whose reads the kernel splits, retries
/// and reads ahead — waits for one bounded failure at most, not one per request.
public final class BackendHealth: Sendable {
    /// What the backend is, for messages ("http://host:port", "swift store obj").
    public let backend: String
    let logger: Logger
    let probeInterval: Duration
    private let probe: @Sendable () async -> Bool
    private let state = Mutex(State())

    /// Work that needs the backend (removing what an aborted write left behind).
    public typealias Work = @Sendable () async throws(StoreError) -> Void

    private struct State {
        var down: Outage?
        var prober: Task<Void, Never>?
        /// Clean-ups put off until the backend answers again.
        var deferred: [(what: String, work: Work)] = []
    }

    struct Outage {
        let since: ContinuousClock.Instant
        let reason: String
    }

    /// `probe` answers whether the backend answers now (any answer counts: an error status is the
    /// backend speaking). It must be bounded by the backend's timeout.
    public init(backend: String, logger: Logger, probeInterval: Duration = .seconds(1),
                probe: @escaping @Sendable () async -> Bool) {
        self.backend = backend
        self.logger = logger
        self.probeInterval = probeInterval
        self.probe = probe
    }

    deinit { state.withLock { $0.prober?.cancel() } }

    public var isDown: Bool { state.withLock { $0.down != nil } }

    /// Fails at once while the backend is down.
    public func check() throws(StoreError) {
        guard let outage = state.withLock({ $0.down }) else { return }
        let seconds = (ContinuousClock.now - outage.since).components.seconds
        throw .unreachable("\(backend) is down (for \(seconds) s: \(outage.reason)); waiting for it to answer again")
    }

    /// Runs one request against the backend: at once a failure while it is down; its outcome
    /// recorded otherwise.
    public func guarded<T>(_ body: () async throws(StoreError) -> T) async throws(StoreError) -> T {
        try check()
        do throws(StoreError) {
            let result = try await body()
            answered()
            return result
        } catch {
            record(error)
            throw error
        }
    }

    /// A request got an answer: the backend is up.
    public func answered() {
        let (outage, deferred) = state.withLock { s in
            guard let down = s.down else { return (Outage?.none, [(what: String, work: Work)]()) }
            s.down = nil
            s.prober?.cancel()
            s.prober = nil
            defer { s.deferred = [] }
            return (down, s.deferred)
        }
        guard let outage else { return }
        logger.notice("backend answers again", metadata: [
            "backend": "\(backend)", "down_seconds": "\(Self.seconds(ContinuousClock.now - outage.since))"])
        guard !deferred.isEmpty else { return }
        let logger = self.logger, backend = self.backend
        Task {
            for (what, work) in deferred {
                do throws(StoreError) {
                    try await work()
                    logger.notice("done now that the backend answers", metadata: ["backend": "\(backend)", "work": "\(what)"])
                } catch {
                    logger.warning("still not done; left for a later start", metadata: [
                        "backend": "\(backend)", "work": "\(what)", "error": "\(error)"])
                }
            }
        }
    }

    /// Puts off `work` (removing what an aborted write left behind) until the backend answers
    /// again, when `failure` says it did not; returns false (nothing put off) otherwise.
    public func retryWhenUp(_ what: String, after failure: StoreError, _ work: @escaping Work) -> Bool {
        guard failure.meansNoAnswer else { return false }
        let queued = state.withLock { s in
            guard s.down != nil else { return false }
            s.deferred.append((what, work))
            return true
        }
        if queued {
            logger.notice("put off until the backend answers again", metadata: ["backend": "\(backend)", "work": "\(what)"])
        }
        return queued
    }

    /// A request failed: if for want of an answer, the backend is down from now.
    public func record(_ error: StoreError) {
        guard error.meansNoAnswer else { return }
        let started: Bool = state.withLock { s in
            guard s.down == nil else { return false }
            s.down = Outage(since: .now, reason: error.description)
            // Not detached: the probe keeps the priority of the request that found the outage
            // (a detached task of default priority waits behind every busier one).
            s.prober = Task { [weak self] in await self?.probeUntilUp() }
            return true
        }
        if started {
            logger.error("backend does not answer; its requests fail at once until it does", metadata: [
                "backend": "\(backend)", "error": "\(error)"])
        }
    }

    private func probeUntilUp() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: probeInterval)
            if Task.isCancelled { return }
            if await probe() {
                answered()
                return
            }
        }
    }

    static func seconds(_ d: Duration) -> String {
        let c = d.components
        return String(format: "%.1f", Double(c.seconds) + Double(c.attoseconds) / 1e18)
    }
}

extension StoreError {
    /// The backend gave no answer (refused, reset, timed out), as opposed to an answer that was an error.
    public var meansNoAnswer: Bool {
        switch self {
        case .unreachable, .timedOut: true
        default: false
        }
    }
}
