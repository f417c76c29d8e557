/// Mirrors glance_store's exceptions (`gs/exceptions.py`), so a driver says what Glance would say and
/// the FUSE layer maps each case to one errno in one place.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(image: String)
    case duplicate(image: String)
    case storageFull(String)
    /// Glance's StorageFull too, but a quota's limit rather than a full medium (EDQUOT, not ENOSPC).
    case storageQuotaFull(String)
    case storageWriteDenied(String)
    case inUseByStore(image: String)
    case hasSnapshot(image: String)
    case badStoreURI(String)
    case badStoreConfiguration(store: String, reason: String)
    case storeAddDisabled(store: String)
    case storeGetNotSupported
    case storeRandomGetNotSupported(offset: UInt64, length: Int)
    case storeDeleteNotSupported(store: String)
    /// An operation outside glance_store's vocabulary that this store cannot do (rename, utimens...).
    case operationNotSupported(String)
    case invalidImageName(String)
    case maxRedirectsExceeded(Int)
    case remoteServiceUnavailable(String)
    /// No answer at all: the connection was refused or reset, the backend is down (after the bounded
    /// tries, or at once while `BackendHealth` knows it is).
    case unreachable(String)
    case timedOut(String)
    case forbidden(String)
    /// A system call failed with this errno, not covered by a case above.
    case io(errno: Int32, String)
    case backend(String)

    public var description: String {
        switch self {
        case .notFound(let image): "Image \(image) not found"
        case .duplicate(let image): "Image \(image) already exists"
        case .storageFull(let detail): "There is not enough disk space on the image storage media. \(detail)"
        case .storageQuotaFull(let detail): "The image storage quota is exhausted. \(detail)"
        case .storageWriteDenied(let detail): "Permission to write image storage media denied. \(detail)"
        case .inUseByStore(let image): "Image \(image) is in use through the backend store outside of Glance"
        case .hasSnapshot(let image): "Image \(image) has snapshots"
        case .badStoreURI(let detail): "Invalid store URI: \(detail)"
        case .badStoreConfiguration(let store, let reason):
            "Store \(store) could not be configured correctly. Reason: \(reason)"
        case .storeAddDisabled(let store): "Adding images to store \(store) is disabled"
        case .storeGetNotSupported: "Getting images from this store is not supported"
        case .storeRandomGetNotSupported(let offset, let length):
            "Random access is not supported by this store. Offset: \(offset), length: \(length)"
        case .storeDeleteNotSupported(let store): "Deleting images from store \(store) is not supported"
        case .operationNotSupported(let what): "\(what) is not supported by this store"
        case .invalidImageName(let name): "'\(name)' cannot be an image name"
        case .maxRedirectsExceeded(let n): "The HTTP URL exceeded \(n) maximum redirects"
        case .remoteServiceUnavailable(let detail): "Remote service unavailable: \(detail)"
        case .unreachable(let detail): "Remote service unreachable: \(detail)"
        case .timedOut(let detail): "Timed out: \(detail)"
        case .forbidden(let detail): detail
        case .io(let errno, let detail): "\(detail) (errno \(errno))"
        case .backend(let detail): detail
        }
    }
}
