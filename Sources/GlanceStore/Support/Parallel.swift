/// Work over many items with at most `depth` at once, results in the items' order: listings that
/// read a header per VDI, audits that list every store or hash every copy.
public enum Parallel {
    /// Each item's outcome.
    public static func results<T: Sendable, R: Sendable>(_ items: [T], depth: Int,
                                                         _ body: @escaping @Sendable (T) async throws(StoreError) -> R) async -> [Result<R, StoreError>] {
        await withTaskGroup(of: (Int, Result<R, StoreError>).self) { group in
            var out = [Result<R, StoreError>?](repeating: nil, count: items.count)
            var next = 0
            func start() {
                guard next < items.count else { return }
                let index = next, item = items[index]
                next += 1
                group.addTask {
                    do throws(StoreError) { return (index, .success(try await body(item))) } catch { return (index, .failure(error)) }
                }
            }
            for _ in 0..<max(1, depth) { start() }
            for await (index, result) in group {
                out[index] = result
                start()
            }
            return out.map { $0! }
        }
    }

    /// Every result, or the first error (in the items' order).
    public static func map<T: Sendable, R: Sendable>(_ items: [T], depth: Int,
                                                     _ body: @escaping @Sendable (T) async throws(StoreError) -> R) async throws(StoreError) -> [R] {
        try await results(items, depth: depth, body).map { result throws(StoreError) in try result.get() }
    }
}
