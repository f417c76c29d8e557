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

/// A continuation resumed by whichever answer comes first; the later ones are dropped.
private final class FirstAnswer<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, Never>?>(nil)
    func waiting(_ c: CheckedContinuation<T, Never>) { continuation.withLock { $0 = c } }
    func answer(_ value: T) { continuation.withLock { $0.take() }?.resume(returning: value) }
}
