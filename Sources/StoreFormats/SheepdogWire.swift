/// The sheep daemon's wire protocol and on-disk formats (sheepdog 1.0: include/sheepdog_proto.h,
/// include/internal_proto.h), without I/O: requests, responses, the inode header, VDI attributes,
/// object ids and the VDI-name hash. Every integer is little-endian.
public enum SheepWire {
    public static let headerSize = 48
    /// `SD_PROTO_VER` for opcodes below 0x80, `SD_SHEEP_PROTO_VER` for the others.
    public static func protocolVersion(_ opcode: UInt8) -> UInt8 { opcode >= 0x80 ? 0x0A : 0x02 }

    public enum Opcode: UInt8, Sendable {
        case createAndWriteObject = 0x01, readObject = 0x02, writeObject = 0x03, removeObject = 0x04
        case newVDI = 0x11, getVDIInfo = 0x14, readVDIs = 0x15, deleteVDI = 0x17, getClusterDefault = 0x18
        case statSheep = 0x86, getVDIAttribute = 0x89, readDeletedVDIs = 0xC9
    }

    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        public static let write = Flags(rawValue: 0x01)
        public static let copyOnWrite = Flags(rawValue: 0x02)
        public static let create = Flags(rawValue: 0x0100)
        public static let exclusive = Flags(rawValue: 0x0200)
    }

    /// `SD_RES_*`: what a request's `result` says.
    public enum Result: UInt32, Sendable {
        case success = 0x00, unknown = 0x01, noObject = 0x02, io = 0x03, vdiExists = 0x04, invalidParameters = 0x05
        case systemError = 0x06, vdiLocked = 0x07, noVDI = 0x08, noBaseVDI = 0x09, vdiRead = 0x0A, vdiWrite = 0x0B
        case baseVDIRead = 0x0C, baseVDIWrite = 0x0D, noTag = 0x0E, startup = 0x0F, shutdown = 0x11, noMemory = 0x12
        case fullVDI = 0x13, versionMismatch = 0x14, noSpace = 0x15, waitForFormat = 0x16, waitForJoin = 0x17
        case halt = 0x19, readOnly = 0x1A
    }

    public static let nrVDIs = 1 << 24
    public static let bitmapBytes = nrVDIs / 8
    public static let maxNameLength = 256
    /// Where an inode's `data_vdi_id[]` starts: the header's size.
    public static let inodeHeaderSize = 4664
    /// The header fields up to `btree_counter`: all a listing needs.
    public static let inodeFieldsSize = 572
    public static let attributeHeaderSize = 784

    public static func inodeObject(_ vid: UInt32) -> UInt64 { 1 << 63 | UInt64(vid) << 32 }
    public static func dataObject(_ vid: UInt32, _ index: UInt64) -> UInt64 { UInt64(vid) << 32 | index }
    public static func attributeObject(_ vid: UInt32, _ attributeID: UInt32) -> UInt64 { UInt64(vid) << 32 | 1 << 61 | UInt64(attributeID) }
    /// Byte offset of `data_vdi_id[index]` in the inode object.
    public static func dataVDIOffset(_ index: UInt64) -> UInt32 { UInt32(inodeHeaderSize) + UInt32(index) * 4 }

    public static func fnv1a64(_ bytes: some Sequence<UInt8>, _ start: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64 {
        var hash = start
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }

    /// `sd_hash_vdi`: where a name's VDI id search starts (0 is skipped by the server's lookup).
    public static func vdiHash(_ name: String) -> UInt32 { UInt32(fnv1a64(name.utf8) & UInt64(nrVDIs - 1)) }

    /// `hash_vdi_attr`: the attribute's id before probing (over the full 256-byte fields).
    public static func attributeHash(name: String, tag: String, snapID: UInt32, key: String) -> UInt32 {
        var hash = fnv1a64(fixed(name, 256))
        hash = fnv1a64(fixed(tag, 256), hash)
        hash = fnv1a64(le(snapID), hash)
        hash = fnv1a64(fixed(key, 256), hash)
        return UInt32(truncatingIfNeeded: hash)
    }

    /// A NUL-padded field of `length` bytes (cut when longer).
    public static func fixed(_ text: String, _ length: Int) -> [UInt8] {
        var bytes = Array(text.utf8.prefix(length))
        bytes += [UInt8](repeating: 0, count: length - bytes.count)
        return bytes
    }

    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    static func read<T: FixedWidthInteger>(_ bytes: some Collection<UInt8>, at offset: Int, as: T.Type = T.self) -> T {
        var value: T = 0
        let start = bytes.index(bytes.startIndex, offsetBy: offset)
        for (i, byte) in bytes[start...].prefix(MemoryLayout<T>.size).enumerated() { value |= T(byte) << (8 * i) }
        return value
    }

    static func cString(_ bytes: some Collection<UInt8>) -> String? {
        String(validating: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// A request header: the common fields, then the opcode's own at their offsets.
    public struct Request: Sendable {
        public var bytes = [UInt8](repeating: 0, count: SheepWire.headerSize)
        public let opcode: Opcode

        public init(_ opcode: Opcode, flags: Flags = [], dataLength: Int = 0) {
            self.opcode = opcode
            bytes[0] = SheepWire.protocolVersion(opcode.rawValue)
            bytes[1] = opcode.rawValue
            set(flags.rawValue, at: 2)
            set(UInt32(dataLength), at: 12)
        }

        public var id: UInt32 {
            get { SheepWire.read(bytes, at: 8) }
            set { set(newValue, at: 8) }
        }
        public var dataLength: Int { Int(SheepWire.read(bytes, at: 12, as: UInt32.self)) }
        public var flags: Flags { Flags(rawValue: SheepWire.read(bytes, at: 2)) }

        public mutating func set<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            bytes.replaceSubrange(offset..<offset + MemoryLayout<T>.size, with: SheepWire.le(value))
        }

        /// Object requests: oid @16, cow_oid @24, offset @40.
        public static func object(_ opcode: Opcode, oid: UInt64, offset: UInt32, length: Int, flags: Flags = [], cow: UInt64 = 0) -> Request {
            var request = Request(opcode, flags: flags, dataLength: length)
            request.set(oid, at: 16)
            request.set(cow, at: 24)
            request.set(offset, at: 40)
            return request
        }

        /// VDI requests: vdi_size @16, base_vdi_id @24, copies @28, block_size_shift @31, snapid @32.
        public static func vdi(_ opcode: Opcode, size: UInt64 = 0, base: UInt32 = 0, snapID: UInt32 = 0, dataLength: Int,
                               flags: Flags = .write) -> Request {
            var request = Request(opcode, flags: flags, dataLength: dataLength)
            request.set(size, at: 16)
            request.set(base, at: 24)
            request.set(snapID, at: 32)
            return request
        }
    }

    /// A response header.
    public struct Response: Sendable {
        public let bytes: [UInt8]
        public init?(_ bytes: [UInt8]) {
            guard bytes.count == SheepWire.headerSize else { return nil }
            self.bytes = bytes
        }
        public var id: UInt32 { SheepWire.read(bytes, at: 8) }
        public var dataLength: Int { Int(SheepWire.read(bytes, at: 12, as: UInt32.self)) }
        public var resultCode: UInt32 { SheepWire.read(bytes, at: 16) }
        public var result: Result? { Result(rawValue: resultCode) }
        public var vdiID: UInt32 { SheepWire.read(bytes, at: 24) }
        public var attributeID: UInt32 { SheepWire.read(bytes, at: 28) }
        public var copies: UInt8 { bytes[32] }
        public var blockSizeShift: UInt8 { bytes[33] }
        /// STAT_SHEEP: the node's store size and free bytes.
        public var storeSize: UInt64 { SheepWire.read(bytes, at: 32) }
        public var storeFree: UInt64 { SheepWire.read(bytes, at: 40) }
    }

    /// An inode's header fields (`struct sd_inode` up to `btree_counter`).
    public struct InodeHeader: Sendable, Equatable {
        public let name: String
        public let tag: String
        /// `sec << 32 | nsec`.
        public let createTime: UInt64
        public let snapshotTime: UInt64
        public let size: UInt64
        public let copies: UInt8
        public let blockSizeShift: UInt8
        public let snapID: UInt32
        public let vdiID: UInt32
        public let parentVDIID: UInt32

        public var isSnapshot: Bool { snapshotTime != 0 }
        public var objectSize: UInt64 { 1 << UInt64(min(blockSizeShift == 0 ? 22 : blockSizeShift, 31)) }
        public var created: Timestamp { Timestamp(seconds: Int64(createTime >> 32), nanoseconds: Int32(min(createTime & 0xFFFF_FFFF, 999_999_999))) }

        /// nil when the bytes are too few or the name is not UTF-8.
        public init?(_ bytes: [UInt8]) {
            guard bytes.count >= SheepWire.inodeFieldsSize, let name = SheepWire.cString(bytes[0..<256]),
                  let tag = SheepWire.cString(bytes[256..<512]) else { return nil }
            self.name = name
            self.tag = tag
            createTime = SheepWire.read(bytes, at: 512)
            snapshotTime = SheepWire.read(bytes, at: 520)
            size = SheepWire.read(bytes, at: 536)
            copies = bytes[554]
            blockSizeShift = bytes[555]
            snapID = SheepWire.read(bytes, at: 556)
            vdiID = SheepWire.read(bytes, at: 560)
            parentVDIID = SheepWire.read(bytes, at: 564)
        }
    }

    /// `name[256] tag[256]` (the tag only when given): how GET_VDI_INFO and DEL_VDI name a VDI.
    public static func vdiName(_ name: String, tag: String? = nil) -> [UInt8] {
        fixed(name, maxNameLength) + (tag.map { fixed($0, 256) } ?? [])
    }

    /// `struct sheepdog_vdi_attr` up to its value: name, tag, ctime (set by the server), snap_id,
    /// value_len, key; then the value.
    public static func attribute(name: String, key: String, value: [UInt8] = []) -> [UInt8] {
        fixed(name, 256) + fixed("", 256) + le(UInt64(0)) + le(UInt32(0)) + le(UInt32(value.count)) + fixed(key, 256) + value
    }

    /// An attribute object read back: its VDI's creation time when written, key and value.
    public struct Attribute: Sendable, Equatable {
        public let name: String
        public let key: String
        public let createTime: UInt64
        public let value: [UInt8]

        public init?(_ bytes: [UInt8]) {
            guard bytes.count >= SheepWire.attributeHeaderSize, let name = SheepWire.cString(bytes[0..<256]),
                  let key = SheepWire.cString(bytes[528..<784]) else { return nil }
            let length = Int(SheepWire.read(bytes, at: 524, as: UInt32.self))
            guard bytes.count >= SheepWire.attributeHeaderSize + length else { return nil }
            self.name = name
            self.key = key
            createTime = SheepWire.read(bytes, at: 512)
            value = Array(bytes[SheepWire.attributeHeaderSize..<SheepWire.attributeHeaderSize + length])
        }
    }

    /// The ids whose bit is set in `inUse` and not in `deleted` (bit i: byte i >> 3, bit i & 7).
    public static func liveIDs(inUse: [UInt8], deleted: [UInt8]) -> [UInt32] {
        var ids: [UInt32] = []
        for (index, byte) in inUse.enumerated() where byte != 0 {
            let live = byte & ~(index < deleted.count ? deleted[index] : 0)
            guard live != 0 else { continue }
            for bit in 0..<8 where live & (1 << bit) != 0 { ids.append(UInt32(index * 8 + bit)) }
        }
        return ids
    }

    /// Little-endian u32 entries (`data_vdi_id[]`).
    public static func words(_ bytes: [UInt8]) -> [UInt32] {
        stride(from: 0, to: bytes.count - bytes.count % 4, by: 4).map { read(bytes, at: $0) }
    }

    public static func wordBytes(_ words: [UInt32]) -> [UInt8] { words.flatMap { le($0) } }
}
