import Foundation
import GlanceConfig

/// Total and available bytes of what backs a store.
public struct StoreCapacity: Sendable, Equatable {
    public let totalBytes: UInt64
    public let availableBytes: UInt64
    public init(totalBytes: UInt64, availableBytes: UInt64) {
        self.totalBytes = totalBytes
        self.availableBytes = availableBytes
    }
}

/// What `add_with_multihash` returns in Glance: where the image went, how much was written, the md5
/// `checksum`, the `os_hash_value` (sha512) and the location metadata (always with `store`).
public struct ImageAddResult: Sendable, Equatable {
    public let location: String
    public let size: UInt64
    /// nil where the writer hashes nothing (the store's hashes are computed on demand: `computeDigests`).
    public let checksum: String?
    public let multihash: String?
    public let metadata: [String: String]
}

/// Something a writer left in a store that is not an image: a partial write (ours or Glance's), the
/// segments of an upload without its manifest, an image in the trash. What `audit` calls a leftover.
public struct StoreLeftover: Sendable, Equatable {
    /// The backend's own name for it (file, object, volume, trash entry).
    public let name: String
    /// The image it was for, when its name says.
    public let image: String?
    public let size: UInt64?
    public let modified: Timestamp?
    /// What it is, in a few words ("partial write of glance-storefs", "segments without a manifest").
    public let kind: String

    public init(name: String, image: String?, size: UInt64?, modified: Timestamp?, kind: String) {
        self.name = name
        self.image = image
        self.size = size
        self.modified = modified
        self.kind = kind
    }
}

/// A store of images: one directory of the mount. Drivers know nothing of FUSE; everything the FUSE
/// layer needs comes through this protocol and `capabilities`.
public protocol Store: AnyObject, Sendable {
    var id: String { get }
    var type: StoreType { get }
    var capabilities: Capabilities { get }

    /// Every image, with size and modification time, without a request per image where possible.
    func list() async throws(StoreError) -> [ImageInfo]
    func stat(_ name: String) async throws(StoreError) -> ImageInfo
    /// An open image to read at any offset (READ_RANDOM), or from the start (READ_ACCESS only).
    func openForReading(_ name: String) async throws(StoreError) -> any ImageReader
    /// A new image written as a stream; nothing is visible under `name` until `publish()`.
    /// `sizeHint` is the final size when known (Glance's `image_size`), nil when not.
    func beginWrite(_ name: String, sizeHint: UInt64?) async throws(StoreError) -> any ImageWriter
    /// Needs `.rename`. With `replacing` false, fails with `.duplicate` when `newName` exists; with
    /// true, replaces it (POSIX rename, which rsync relies on when it updates a file).
    func rename(_ name: String, to newName: String, replacing: Bool) async throws(StoreError)
    func delete(_ name: String) async throws(StoreError)
    /// Needs `.setModificationTime`.
    func setModificationTime(_ name: String, to time: Timestamp) async throws(StoreError)
    /// Needs `.capacity`.
    func capacity() async throws(StoreError) -> StoreCapacity
    /// Glance's location URI for the image, never with credentials.
    func location(of name: String) -> String
    /// Extra facts worth showing as xattrs (checksums when known, location metadata...).
    func attributes(of name: String) async throws(StoreError) -> [String: String]
    /// Needs `.keepDigests`: keeps hashes computed on demand with the image, so that `attributes`
    /// returns them (as `checksum`, `os_hash_algo`, `os_hash_value`) for as long as the image is
    /// unchanged.
    func keepDigests(_ digests: ImageDigests, of name: String) async throws(StoreError)
    /// The mount is ending: give back what the store holds at its backend (Cinder attachments).
    func shutdown() async
    /// What interrupted writes left in the store (hidden from `list`), changing nothing.
    func leftovers() async throws(StoreError) -> [StoreLeftover]
}

public protocol ImageReader: Sendable {
    var size: UInt64 { get }
    /// Up to `count` bytes from `offset`; fewer only at the end of the image; empty past it.
    func read(at offset: UInt64, count: Int) async throws(StoreError) -> [UInt8]
    func close() async
}

public protocol ImageWriter: Sendable {
    var name: String { get }
    /// Appends; the stream is sequential.
    func write(_ bytes: [UInt8]) async throws(StoreError)
    /// Makes the complete image visible under its name, atomically. Fails with `.duplicate` if the
    /// name was taken meanwhile; the data is then discarded.
    func publish() async throws(StoreError) -> ImageAddResult
    /// Discards everything written; nothing is left behind.
    func abort() async
    /// The modification time the image is published with (a utimens that came before the image
    /// existed: rsync sets its temporary file's time before renaming it). False when this writer
    /// cannot take it any more, or at all: the time is then set after publishing.
    func publishWith(modificationTime: Timestamp) async -> Bool
}

extension ImageWriter {
    public func publishWith(modificationTime: Timestamp) async -> Bool { false }
}

/// Defaults for the optional features, so a driver implements only what it has.
extension Store {
    public func rename(_ name: String, to newName: String, replacing: Bool) async throws(StoreError) {
        throw .operationNotSupported("rename")
    }
    public func setModificationTime(_ name: String, to time: Timestamp) async throws(StoreError) {
        throw .operationNotSupported("setting the modification time")
    }
    public func capacity() async throws(StoreError) -> StoreCapacity {
        throw .operationNotSupported("capacity")
    }
    public func attributes(of name: String) async throws(StoreError) -> [String: String] { [:] }
    public func keepDigests(_ digests: ImageDigests, of name: String) async throws(StoreError) {
        throw .operationNotSupported("keeping checksums")
    }
    public func shutdown() async {}
    public func leftovers() async throws(StoreError) -> [StoreLeftover] { [] }
    public var isWritable: Bool { capabilities.isCapable(of: .writeAccess) }
}

/// Optional feature of a reader: the image is a local file, so the FUSE layer can hand the kernel
/// its descriptor and let it splice the data without a copy through user space.
public protocol FileBackedImageReader: ImageReader {
    var fileDescriptor: Int32 { get }
}
