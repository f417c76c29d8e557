import GlanceConfig
import Logging
import NIOCore
import StoreFormats
import Synchronization

/// The sheep daemon of a store: a few connections shared by every request (each carries many
/// requests at once), the operations the store needs in the protocol's terms, and the store's
/// circuit breaker (a dead daemon fails its own store only, at once after the first timeout).
final class SheepCluster: Sendable {
    let settings: SheepdogStoreSettings
    let health: BackendHealth
    /// Connections by slot (nil: not made yet, or closed).
    private let slots: Mutex<[SheepConnection?]>
    private let next = Mutex(0)
    private let timeout: Duration

    /// Connections kept: big object writes on one do not hold up the small requests of others.
    static let connections = 4

    init(settings: SheepdogStoreSettings, storeID: String, logger: Logger) {
        self.settings = settings
        timeout = .milliseconds(Int64(settings.timeout * 1000))
        slots = Mutex([SheepConnection?](repeating: nil, count: Self.connections))
        let host = settings.address, port = settings.port, timeout = self.timeout
        health = BackendHealth(backend: "sheepdog store \(storeID) (\(settings.address):\(settings.port))", logger: logger) {
            // Any answer counts: the daemon speaks.
            guard let connection = try? await SheepConnection.connect(host: host, port: port, timeout: timeout) else { return false }
            defer { connection.close() }
            return (try? await connection.send(SheepWire.Request(.getClusterDefault), timeout: timeout)) != nil
        }
    }

    private func connection() async throws(StoreError) -> SheepConnection {
        let index = next.withLock { n in defer { n = (n + 1) % Self.connections }; return n }
        if let open = slots.withLock({ $0[index] }), open.isActive { return open }
        let fresh = try await SheepConnection.connect(host: settings.address, port: settings.port, timeout: timeout)
        let kept = slots.withLock { slots -> SheepConnection in
            if let other = slots[index], other.isActive { return other }
            slots[index] = fresh
            return fresh
        }
        if kept !== fresh { fresh.close() }
        return kept
    }

    /// One request; `.success` or one of `accept` is returned, any other result thrown.
    func call(_ request: SheepWire.Request, data: [UInt8] = [], accept: Set<SheepWire.Result> = [],
              what: @autoclosure () -> String) async throws(StoreError) -> (SheepWire.Response, ByteBuffer) {
        let (response, body) = try await health.guarded { () async throws(StoreError) in
            try await connection().send(request, data: data, timeout: timeout)
        }
        guard let result = response.result, result == .success || accept.contains(result) else {
            throw Self.error(response.resultCode, what())
        }
        return (response, body)
    }

    static func error(_ code: UInt32, _ what: String) -> StoreError {
        switch SheepWire.Result(rawValue: code) {
        case .noSpace?: .storageFull("\(what): the sheepdog cluster has no room for new objects")
        case .noVDI?, .noObject?, .noTag?: .notFound(image: what)
        case .vdiExists?: .duplicate(image: what)
        case .readOnly?: .storageWriteDenied("\(what): a snapshot's object is read-only")
        case .waitForFormat?: .remoteServiceUnavailable("\(what): the sheepdog cluster is not formatted (dog cluster format)")
        case .startup?, .waitForJoin?, .halt?, .shutdown?: .remoteServiceUnavailable("\(what): the sheepdog cluster is not serving (result 0x\(String(code, radix: 16)))")
        default: .backend("\(what): sheep answered result 0x\(String(code, radix: 16))")
        }
    }

    // MARK: VDIs

    /// The working VDI named `name` (or its snapshot `snapID`): its id; nil when there is none.
    func vdi(_ name: String, snapID: UInt32 = 0) async throws(StoreError) -> UInt32? {
        let data = SheepWire.vdiName(name)
        let (response, _) = try await call(.vdi(.getVDIInfo, snapID: snapID, dataLength: data.count), data: data,
                                           accept: [.noVDI, .noTag], what: "looking up VDI \(name)")
        return response.result == .success ? response.vdiID : nil
    }

    /// NEW_VDI: a fresh VDI (`base` 0), a clone of the snapshot `base`, or with `snapshot` the
    /// current working VDI `base` made a snapshot and a new working one made. The new VDI's id.
    func newVDI(_ name: String, size: UInt64, base: UInt32 = 0, snapshot: Bool = false) async throws(StoreError) -> UInt32 {
        let data = SheepWire.fixed(name, SheepWire.maxNameLength)
        let request = SheepWire.Request.vdi(.newVDI, size: size, base: base, snapID: snapshot ? 1 : 0, dataLength: data.count)
        return try await call(request, data: data, what: name).0.vdiID
    }

    /// DEL_VDI of the working VDI (or of snapshot `snapID`), its objects released first as dog does.
    func deleteVDI(_ name: String, vid: UInt32, header: SheepWire.InodeHeader, snapID: UInt32 = 0) async throws(StoreError) {
        try await releaseObjects(vid, header: header)
        let data = SheepWire.vdiName(name)
        _ = try await call(.vdi(.deleteVDI, snapID: snapID, dataLength: data.count), data: data, what: name)
    }

    /// Zeroes `data_vdi_id[]` (the server releases each object no VDI refers to any more).
    func releaseObjects(_ vid: UInt32, header: SheepWire.InodeHeader) async throws(StoreError) {
        let count = (header.size + header.objectSize - 1) / header.objectSize
        var start: UInt64 = 0
        while start < count {
            let n = min(count - start, Self.entriesPerRequest)
            let entries = try await dataVDIs(vid, from: start, count: n)
            if entries.contains(where: { $0 != 0 }) {
                try await writeInode(vid, at: SheepWire.dataVDIOffset(start), [UInt8](repeating: 0, count: Int(n) * 4))
            }
            start += n
        }
    }

    /// Entries of `data_vdi_id[]` per request when reading or zeroing them.
    static let entriesPerRequest: UInt64 = 1 << 16

    func header(_ vid: UInt32) async throws(StoreError) -> SheepWire.InodeHeader {
        let request = SheepWire.Request.object(.readObject, oid: SheepWire.inodeObject(vid), offset: 0, length: SheepWire.inodeFieldsSize)
        let (_, body) = try await call(request, what: "the inode of VDI \(vid)")
        guard let header = SheepWire.InodeHeader(body.getBytes(at: body.readerIndex, length: body.readableBytes) ?? []) else {
            throw .backend("the inode of VDI \(vid) is not one sheepdog writes")
        }
        return header
    }

    /// `data_vdi_id[from ..< from + count]`: which VDI holds each object (0: none, zeros).
    func dataVDIs(_ vid: UInt32, from: UInt64, count: UInt64) async throws(StoreError) -> [UInt32] {
        var entries: [UInt32] = []
        var start = from
        while start < from + count {
            let n = min(from + count - start, Self.entriesPerRequest)
            let request = SheepWire.Request.object(.readObject, oid: SheepWire.inodeObject(vid), offset: SheepWire.dataVDIOffset(start), length: Int(n) * 4)
            let (_, body) = try await call(request, what: "the object table of VDI \(vid)")
            entries += SheepWire.words(body.getBytes(at: body.readerIndex, length: body.readableBytes) ?? [])
            start += n
        }
        return entries
    }

    func writeInode(_ vid: UInt32, at offset: UInt32, _ bytes: [UInt8]) async throws(StoreError) {
        let request = SheepWire.Request.object(.writeObject, oid: SheepWire.inodeObject(vid), offset: offset, length: bytes.count, flags: .write)
        _ = try await call(request, data: bytes, what: "writing the inode of VDI \(vid)")
    }

    // MARK: Objects

    func readObject(_ oid: UInt64, offset: UInt32, length: Int) async throws(StoreError) -> ByteBuffer {
        let request = SheepWire.Request.object(.readObject, oid: oid, offset: offset, length: length)
        return try await call(request, what: "reading object \(String(oid, radix: 16))").1
    }

    /// A new data object: `bytes` at `offset`, zeros elsewhere.
    func createObject(_ oid: UInt64, offset: UInt32 = 0, _ bytes: [UInt8]) async throws(StoreError) {
        let request = SheepWire.Request.object(.createAndWriteObject, oid: oid, offset: offset, length: bytes.count, flags: .write)
        _ = try await call(request, data: bytes, what: "writing object \(String(oid, radix: 16))")
    }

    // MARK: The cluster

    /// The live VDI ids: in use and not deleted.
    func liveVDIs() async throws(StoreError) -> [UInt32] {
        let inUse = try await call(SheepWire.Request(.readVDIs, dataLength: SheepWire.bitmapBytes), what: "reading the VDI bitmap").1
        let deleted = try await call(SheepWire.Request(.readDeletedVDIs, dataLength: SheepWire.bitmapBytes), what: "reading the deleted VDIs").1
        return SheepWire.liveIDs(inUse: inUse.getBytes(at: inUse.readerIndex, length: inUse.readableBytes) ?? [],
                                 deleted: deleted.getBytes(at: deleted.readerIndex, length: deleted.readableBytes) ?? [])
    }

    func nodeStatistics() async throws(StoreError) -> (size: UInt64, free: UInt64) {
        let response = try await call(SheepWire.Request(.statSheep), what: "the node's statistics").0
        return (response.storeSize, response.storeFree)
    }

    // MARK: Attributes

    /// A VDI attribute's value, if set while the VDI named `name` is the one created at `createTime`
    /// (attributes are kept by name: a later VDI of the same name must not inherit them).
    func attribute(_ name: String, key: String, createTime: UInt64) async throws(StoreError) -> [UInt8]? {
        let lookup = SheepWire.attribute(name: name, key: key)
        let (response, _) = try await call(.vdi(.getVDIAttribute, dataLength: lookup.count), data: lookup,
                                           accept: [.noObject, .noVDI], what: "attribute \(key) of \(name)")
        guard response.result == .success else { return nil }
        let oid = SheepWire.attributeObject(response.vdiID, response.attributeID)
        let body = try await readObject(oid, offset: 0, length: SheepWire.attributeHeaderSize + 256)
        guard let attribute = SheepWire.Attribute(body.getBytes(at: body.readerIndex, length: body.readableBytes) ?? []),
              attribute.name == name, attribute.key == key, attribute.createTime == createTime else { return nil }
        return attribute.value
    }

    func setAttribute(_ name: String, key: String, value: [UInt8]) async throws(StoreError) {
        let data = SheepWire.attribute(name: name, key: key, value: value)
        _ = try await call(.vdi(.getVDIAttribute, dataLength: data.count, flags: [.write, .create]), data: data,
                           what: "setting attribute \(key) of \(name)")
    }
}
