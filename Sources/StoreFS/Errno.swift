import Glibc
import GlanceStore

/// A file-system failure: the errno the kernel gets. Every store error becomes one here, in one place.
public struct FSError: Error, Sendable, Equatable, CustomStringConvertible {
    public let errno: Int32
    public init(_ errno: Int32) { self.errno = errno }
    public var description: String { String(cString: strerror(errno)) }

    public static let notFound = FSError(ENOENT)
    public static let readOnly = FSError(EROFS)
    public static let notPermitted = FSError(EPERM)
    public static let crossDevice = FSError(EXDEV)
    public static let io = FSError(EIO)
}

extension StoreError {
    /// The one mapping of store errors to errno (glance_store exception → what a shell user expects).
    public var errno: Int32 {
        switch self {
        case .notFound: ENOENT
        case .duplicate: EEXIST
        case .storageFull: ENOSPC
        case .storageQuotaFull: EDQUOT
        case .storageWriteDenied, .forbidden: EACCES
        case .inUseByStore, .hasSnapshot: EBUSY
        case .storeAddDisabled, .storeDeleteNotSupported: EROFS
        case .storeGetNotSupported, .operationNotSupported: ENOTSUP
        case .storeRandomGetNotSupported: ESPIPE
        case .invalidImageName(let name): name.utf8.count > 255 ? ENAMETOOLONG : EINVAL
        case .badStoreURI: EINVAL
        case .timedOut, .maxRedirectsExceeded, .remoteServiceUnavailable, .unreachable, .badStoreConfiguration, .backend: EIO
        case .io(let code, _): code
        }
    }
}

extension FSError {
    public init(_ error: StoreError) { self.init(error.errno) }
}

/// Runs store code and turns its error into the errno the kernel gets.
func storeCall<T>(isolation: isolated (any Actor)? = #isolation, _ body: () async throws(StoreError) -> T) async throws(FSError) -> T {
    do throws(StoreError) { return try await body() } catch { throw FSError(error) }
}

/// The same for one request of the file system to a store, counted and timed in its `StoreMeters`
/// (`operation` names it in `glance_storefs_store_requests_total`).
func storeCall<T>(isolation: isolated (any Actor)? = #isolation, _ meters: StoreMeters, _ operation: String,
                  _ body: () async throws(StoreError) -> T) async throws(FSError) -> T {
    let start = ContinuousClock.now
    do throws(StoreError) {
        let value = try await body()
        meters.record(operation, errno: nil, since: start)
        return value
    } catch {
        meters.record(operation, errno: error.errno, since: start)
        throw FSError(error)
    }
}
