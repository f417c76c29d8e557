import Synchronization

/// The value of `task` if it ends within `seconds`; nil otherwise, and the task goes on. For work
/// a caller should not be held hostage by (a clean-up at a backend that does not answer).
public func awaitAtMost<T: Sendable>(seconds: Double, _ task: Task<T, Never>) async -> T? {
    let first = FirstAnswer<T?>()
    return await withCheckedContinuation { continuation in
        first.waiting(continuation)
        Task {
            let value = await task.value
            first.answer(value)
        }
        Task {
            try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
            first.answer(nil)
        }
    }
}

/// What `work` ends with, if it ends within `seconds`; `.timedOut(what)` otherwise, and the work
/// goes on, holding what it uses until it ends. For a library call that may chain operations each
/// bounded on its own (librbd's write: the object map, then the data): the user waits one bound.
public func within<T: Sendable>(seconds: Double, _ what: String,
                                _ work: Task<Result<T, StoreError>, Never>) async throws(StoreError) -> T {
    guard let result = await awaitAtMost(seconds: seconds, work) else { throw .timedOut(what) }
    return try result.get()
}

/// A continuation resumed by whichever answer comes first; the later ones are dropped.
private final class FirstAnswer<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, Never>?>(nil)
    func waiting(_ c: CheckedContinuation<T, Never>) { continuation.withLock { $0 = c } }
    func answer(_ value: T) { continuation.withLock { $0.take() }?.resume(returning: value) }
}
