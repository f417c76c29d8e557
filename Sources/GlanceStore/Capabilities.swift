/// What a store can do. The low byte has glance_store's bit values exactly (`gs/capabilities.py`), so
/// `is_capable` reasoning carries over; the higher bits are glance-storefs' optional features, which
/// the FUSE layer turns into errnos (a store without `.rename` makes rename EXDEV/ENOTSUP, ...).
public struct Capabilities: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let readAccess = Capabilities(rawValue: 0b0000_0001)
    public static let readOffset = Capabilities(rawValue: 0b0000_0011)
    public static let readChunk = Capabilities(rawValue: 0b0000_0101)
    public static let readRandom = Capabilities(rawValue: 0b0000_0111)
    public static let writeAccess = Capabilities(rawValue: 0b0000_1000)
    public static let writeOffset = Capabilities(rawValue: 0b0001_1000)
    public static let writeChunk = Capabilities(rawValue: 0b0010_1000)
    public static let writeRandom = Capabilities(rawValue: 0b0011_1000)
    public static let rwAccess: Capabilities = [.readAccess, .writeAccess]
    public static let rwOffset: Capabilities = [.readOffset, .writeOffset]
    public static let rwChunk: Capabilities = [.readChunk, .writeChunk]
    public static let rwRandom: Capabilities = [.readRandom, .writeRandom]
    public static let driverReusable = Capabilities(rawValue: 0b0100_0000)

    /// Rename an image within the store without copying its data.
    public static let rename = Capabilities(rawValue: 1 << 8)
    /// Keep a modification time set by the client (so a second `rsync -a` copies nothing).
    public static let setModificationTime = Capabilities(rawValue: 1 << 9)
    /// Report total and free capacity (statfs).
    public static let capacity = Capabilities(rawValue: 1 << 10)
    /// Keep checksums computed on demand with the image (`keepDigests`).
    public static let keepDigests = Capabilities(rawValue: 1 << 11)

    /// Publishing and renaming cost round trips to a remote backend (a snapshot, a server-side
    /// copy): rsync's temporary file is held on local disk until rsync renames it, then published
    /// once under its final name, instead of published and then renamed.
    public static let publishOnRename = Capabilities(rawValue: 1 << 12)

    /// glance_store's `is_capable`: every bit of `other` is present.
    public func isCapable(of other: Capabilities) -> Bool { isSuperset(of: other) }

    /// The glance_store bit mask alone (what `_CAPABILITIES` would be).
    public var glanceBits: UInt8 { UInt8(truncatingIfNeeded: rawValue & 0xFF) }
}
