import Glibc

/// errno of the last failed call, as a StoreError carrying what was attempted.
func posixError(_ what: String, _ code: Int32 = errno) -> StoreError {
    .io(errno: code, "\(what): \(String(cString: strerror(code)))")
}

/// Retries a system call interrupted by a signal.
@inline(__always) func retryingEINTR<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result == -1 && errno == EINTR { continue }
        return result
    }
}
