import Foundation
import GlanceStore

/// One store as the mount shows it.
public struct MountedStore: Sendable {
    public let store: any Store
    /// `store_description`, what /v2/info/stores shows.
    public let description: String?
    public let isDefault: Bool

    public init(store: any Store, description: String?, isDefault: Bool) {
        self.store = store
        self.description = description
        self.isDefault = isDefault
    }
}

public struct MountOptions: Sendable {
    /// `-o ro`: every store read-only.
    public var readOnly = false
    /// How long the kernel may trust an image's attributes and name (seconds). Images are immutable,
    /// but Glance may add or delete them behind the mount.
    public var cacheTimeout: Double = 5
    public var uid: UInt32 = getuid()
    public var gid: UInt32 = getgid()
    public init() {}
}

/// What `stat` shows.
public struct FileAttributes: Sendable, Equatable {
    public var ino: UInt64
    public var isDirectory: Bool
    public var permissions: UInt16
    public var size: UInt64
    public var modificationTime: Timestamp
    public var uid: UInt32
    public var gid: UInt32
}

/// A lookup's answer and how long the kernel may keep it.
public struct EntryReply: Sendable {
    public var attributes: FileAttributes
    public var entryTimeout: Double
    public var attributeTimeout: Double
    public init(attributes: FileAttributes, entryTimeout: Double, attributeTimeout: Double) {
        self.attributes = attributes
        self.entryTimeout = entryTimeout
        self.attributeTimeout = attributeTimeout
    }
}

public struct DirectoryEntry: Sendable {
    public let name: String
    public let attributes: FileAttributes
}

public struct OpenReply: Sendable {
    public let handle: UInt64
    /// The image is immutable: pages cached by earlier opens stay valid.
    public let keepCache: Bool
    /// Writes bypass the page cache: they reach the store as sent, and each carries the identity
    /// of the process's file table (lock owner), which tells a close by the writer from a close
    /// by a forked child that inherited the descriptor.
    public let directIO: Bool
    public init(handle: UInt64, keepCache: Bool, directIO: Bool = false) {
        self.handle = handle
        self.keepCache = keepCache
        self.directIO = directIO
    }
}

/// Data for a read: bytes, the network's buffers as received, or a range of a file descriptor the
/// kernel can splice without a copy.
public enum ReadReply: Sendable {
    case bytes([UInt8])
    case buffers(ImageBytes)
    case file(descriptor: Int32, offset: UInt64, count: Int)
}

/// What setattr asks for.
public struct AttributeChange: Sendable {
    public var size: UInt64?
    public var modificationTime: Timestamp?
    /// chmod/chown: accepted and ignored (a store has no owners or modes), so `cp -a` and `rsync -a` work.
    public var ownershipOrMode = false
    public init() {}
}

public struct FilesystemCapacity: Sendable {
    public let totalBytes: UInt64
    public let availableBytes: UInt64
}
