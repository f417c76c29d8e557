import Synchronization

/// One credential at a time (a token and what came with it), shared by every request of a store:
/// fetched when there is none or it is about to expire, and renewed once for everyone — a caller
/// that found it stale (a 401) asks for a new one, and callers asking together share one login.
final class SharedCredential<Value: Sendable & Equatable>: Sendable {
    /// Where it comes from, for the message of an unexpected failure ("authenticating at URL").
    let what: String
    private let expiresSoon: @Sendable (Value) -> Bool
    private let state = Mutex<(value: Value?, renewing: Task<Value, any Error>?)>((nil, nil))

    init(what: String, expiresSoon: @escaping @Sendable (Value) -> Bool) {
        self.what = what
        self.expiresSoon = expiresSoon
    }

    /// The one in use, if any (for tests and diagnostics).
    var current: Value? { state.withLock { $0.value } }

    /// The one in use, fetched first when there is none or it is about to expire.
    func value(fetch: @escaping @Sendable () async throws(StoreError) -> Value) async throws(StoreError) -> Value {
        let current = state.withLock { $0.value }
        if let current, !expiresSoon(current) { return current }
        return try await renew(replacing: current, fetch: fetch)
    }

    /// A new one, unless another caller already replaced `stale` (then that one).
    func renew(replacing stale: Value?, fetch: @escaping @Sendable () async throws(StoreError) -> Value) async throws(StoreError) -> Value {
        let task: Task<Value, any Error> = state.withLock { s in
            if let value = s.value, value != stale { return Task { value } }
            if let renewing = s.renewing { return renewing }
            let task = Task { () async throws -> Value in try await fetch() }
            s.renewing = task
            return task
        }
        do {
            let value = try await task.value
            state.withLock { s in
                if s.renewing == task { s.renewing = nil }
                s.value = value
            }
            return value
        } catch {
            state.withLock { s in if s.renewing == task { s.renewing = nil } }
            throw (error as? StoreError) ?? .remoteServiceUnavailable("\(what): \(error)")
        }
    }
}

/// A token's remaining life, as every credential here judges it: renewed a minute before expiry
/// (Glance's swift_store_expire_soon_interval), or at half the lifetime of short-lived tokens.
func expiresSoon(_ expires: ContinuousClock.Instant?, issued: ContinuousClock.Instant, margin: Duration = .seconds(60)) -> Bool {
    guard let expires else { return false }
    return expires - ContinuousClock.now < min(margin, (expires - issued) / 2)
}
