import Foundation
import GlanceConfig
import Logging
import NIOCore
import StoreFormats

/// Glance's sheepdog store (glance_store's `_drivers/sheepdog.py`, removed in Train), spoken over the
/// sheep daemon's own protocol instead of the `collie` CLI: image `<id>` is the working VDI named
/// `<id>`, of exactly the image's size; its location `sheepdog://<address>:<port>:<id>`. Snapshots are
/// not images (their tags are an attribute of the image).
///
/// A VDI cannot be renamed, so a new image is written to a hidden VDI (`.storefs-partial.<random>.<id>`)
/// and published by making that VDI a snapshot (tagged `glance-storefs-base`) and cloning it to `<id>`:
/// the clone shares the snapshot's objects (no data is copied), NEW_VDI of an existing name fails,
/// and nothing is ever written under a final name. The base snapshot lives as long as its clone.
public final class SheepdogStore: Store {
    public let id: String
    public let type = StoreType.sheepdog
    public let capabilities: Capabilities = [.readRandom, .writeAccess, .driverReusable, .rename, .setModificationTime, .capacity]
    let settings: SheepdogStoreSettings
    let cluster: SheepCluster
    let logger: Logger

    static let partialPrefix = ".storefs-partial."
    /// The tag of the snapshots published images are cloned from.
    static let baseTag = "glance-storefs-base"
    /// The VDI attribute that keeps an image's modification time (`<seconds>.<nanoseconds>`).
    static let mtimeKey = "glance_storefs.mtime"
    /// Header reads in flight at once while listing.
    static let listingDepth = 64
    static let leftoverAge: Int64 = 3600

    public init(definition: StoreDefinition, logger: Logger) throws(StoreError) {
        guard let settings = definition.sheepdog else {
            throw .badStoreConfiguration(store: definition.id, reason: "not a sheepdog store")
        }
        id = definition.id
        self.settings = settings
        self.logger = logger
        cluster = SheepCluster(settings: settings, storeID: definition.id, logger: logger)
        if definition.housekeeping { Task.detached { [self] in await self.cleanLeftovers(olderThan: Self.leftoverAge) } }
    }

    /// One line for `check`.
    public static func summary(_ definition: StoreDefinition) -> String {
        guard let s = definition.sheepdog else { return "" }
        return "sheep at \(s.address):\(s.port), read in \(s.chunkSize >> 20) MiB chunks"
    }

    // MARK: Listing

    struct VDI: Sendable {
        let vid: UInt32
        let header: SheepWire.InodeHeader
    }

    /// Every live VDI's header (working VDIs and snapshots), requests in flight together.
    func scan() async throws(StoreError) -> [VDI] {
        let ids = try await cluster.liveVDIs()
        let cluster = self.cluster
        return try await Parallel.map(ids, depth: Self.listingDepth) { vid throws(StoreError) -> VDI? in
            do throws(StoreError) { return VDI(vid: vid, header: try await cluster.header(vid)) } catch {
                if case .notFound = error { return nil }  // deleted meanwhile
                throw error
            }
        }.compactMap { $0 }.filter { !$0.header.name.isEmpty }
    }

    static func isImage(_ vdi: VDI) -> Bool {
        !vdi.header.isSnapshot && !vdi.header.name.hasPrefix(partialPrefix) && ImageName.problem(vdi.header.name) == nil
    }

    public func list() async throws(StoreError) -> [ImageInfo] {
        let images = try await scan().filter(Self.isImage)
        return try await Parallel.map(images, depth: Self.listingDepth) { [self] vdi throws(StoreError) in
            ImageInfo(name: vdi.header.name, size: vdi.header.size, modificationTime: try await modificationTime(vdi.header))
        }
    }

    /// The kept modification time, else the VDI's creation time.
    func modificationTime(_ header: SheepWire.InodeHeader) async throws(StoreError) -> Timestamp {
        guard let value = try await cluster.attribute(header.name, key: Self.mtimeKey, createTime: header.createTime),
              let text = String(validating: value, as: UTF8.self), let time = Self.parseTime(text) else { return header.created }
        return time
    }

    static func parseTime(_ text: String) -> Timestamp? {
        let parts = text.split(separator: ".")
        guard parts.count == 2, let seconds = Int64(parts[0]), let nanoseconds = Int32(parts[1]), (0..<1_000_000_000).contains(nanoseconds) else { return nil }
        return Timestamp(seconds: seconds, nanoseconds: nanoseconds)
    }

    /// The working VDI of image `name`.
    func find(_ name: String) async throws(StoreError) -> VDI {
        guard !name.hasPrefix(Self.partialPrefix), let vid = try await cluster.vdi(name) else { throw .notFound(image: name) }
        return VDI(vid: vid, header: try await cluster.header(vid))
    }

    public func stat(_ name: String) async throws(StoreError) -> ImageInfo {
        let vdi = try await find(name)
        return ImageInfo(name: name, size: vdi.header.size, modificationTime: try await modificationTime(vdi.header))
    }

    // MARK: Reading

    public func openForReading(_ name: String) async throws(StoreError) -> any ImageReader {
        let vdi = try await find(name)
        let objectSize = vdi.header.objectSize, size = vdi.header.size
        let count = (size + objectSize - 1) / objectSize
        // Which VDI holds each object, read once: images do not change.
        let owners = try await cluster.dataVDIs(vdi.vid, from: 0, count: count)
        let cluster = self.cluster
        let depth = max(1, settings.chunkSize / objectSize)
        return ChunkedImageReader(size: size, chunkSize: objectSize, depth: depth, describe: "sheepdog VDI \(name)", meters: StoreMeters.of(id)) { start, length, _ throws(StoreError) in
            // Within one object: ReadAhead asks for a whole object or a random read's part of one.
            let index = start / objectSize
            let owner = index < owners.count ? owners[Int(index)] : 0
            // An object never written is a hole: zeros, without a request.
            guard owner != 0 else { return ImageBytes([ByteBuffer(repeating: 0, count: length)]) }
            return ImageBytes([try await cluster.readObject(SheepWire.dataObject(owner, index),
                                                            offset: UInt32(start % objectSize), length: length)])
        }
    }

    // MARK: Writing

    public func beginWrite(_ name: String, sizeHint: UInt64?) async throws(StoreError) -> any ImageWriter {
        try Self.validateNew(name)
        // Refused at once when the name is taken (publish checks again: NEW_VDI of a taken name fails).
        if try await cluster.vdi(name) != nil { throw .duplicate(image: name) }
        let partial = Self.partialPrefix + String(UInt64.random(in: 0...UInt64.max), radix: 16) + "." + name
        let vid = try await cluster.newVDI(partial, size: sizeHint ?? 0)
        let header = try await cluster.header(vid)
        return SheepdogImageWriter(store: self, name: name, partial: partial, vid: vid, objectSize: header.objectSize, sizeHint: sizeHint)
    }

    static func validateNew(_ name: String) throws(StoreError) {
        try ImageName.validate(name)
        // The partial names must not be taken by images, and a VDI name has 255 bytes at most.
        if name.hasPrefix(partialPrefix) || name.utf8.count > SheepWire.maxNameLength - 1 - partialPrefix.count - 17 {
            throw .invalidImageName(name)
        }
    }

    /// Makes the working VDI `vid` (named `name`) a base snapshot and clones it to `target`, of
    /// `size` bytes: the target appears complete or not at all. Returns the base's id. The working
    /// VDI the snapshot leaves is the caller's to delete.
    func publish(_ name: String, vid: UInt32, as target: String, size: UInt64) async throws(StoreError) -> (base: UInt32, working: UInt32) {
        let working = try await makeBase(name, vid: vid, size: size)
        do throws(StoreError) {
            _ = try await cluster.newVDI(target, size: size, base: vid)
        } catch {
            // The target exists: nothing of ours goes under its name; the base goes.
            try? await deleteWorking(name, working)
            try? await deleteBase(vid)
            if case .duplicate = error { throw .duplicate(image: target) }
            throw error
        }
        return (vid, working)
    }

    /// Makes the working VDI `vid` (named `name`) a base snapshot; returns the working VDI the
    /// snapshot leaves, which shares its objects. As dog does: the tag goes into the working inode,
    /// which the snapshot then keeps.
    func makeBase(_ name: String, vid: UInt32, size: UInt64) async throws(StoreError) -> UInt32 {
        try await cluster.writeInode(vid, at: 256, SheepWire.fixed(Self.baseTag, 256))
        return try await cluster.newVDI(name, size: size, base: vid, snapshot: true)
    }

    /// Deletes a working VDI (its objects released as dog does, then DEL_VDI).
    func deleteWorking(_ name: String, _ vid: UInt32) async throws(StoreError) {
        let header = try await cluster.header(vid)
        try await cluster.deleteVDI(name, vid: vid, header: header)
    }

    /// Deletes a base snapshot of ours (its image is gone). Without a scan of the cluster for other
    /// clones of it: the daemon releases an object only when no VDI refers to it, so a clone made of
    /// it by hand keeps its data (a scan per delete made `rm` of 200 images take 97 s).
    func deleteBase(_ vid: UInt32) async throws(StoreError) {
        let header = try await cluster.header(vid)
        guard header.isSnapshot, header.tag == Self.baseTag, !header.name.isEmpty else { return }
        try await cluster.deleteVDI(header.name, vid: vid, header: header, snapID: header.snapID)
    }

    /// The VDIs sheepdog's lookup of `name` goes through: from the name's hash to the first id never
    /// used (deleted VDIs keep their inode, so the run has no gap) — the image and its snapshots.
    func family(of name: String) async throws(StoreError) -> [VDI] {
        var found: [VDI] = []
        var vid = max(1, SheepWire.vdiHash(name))
        while vid < UInt32(SheepWire.nrVDIs) {
            let header: SheepWire.InodeHeader
            do throws(StoreError) { header = try await cluster.header(vid) } catch {
                if case .notFound = error { break }
                throw error
            }
            if header.name == name { found.append(VDI(vid: vid, header: header)) }
            vid += 1
        }
        return found
    }

    // MARK: Changing images

    public func rename(_ name: String, to newName: String, replacing: Bool) async throws(StoreError) {
        try Self.validateNew(newName)
        let source = try await find(name)
        guard name != newName else { return }
        let time = try await modificationTime(source.header)
        // The source's base: its parent when that is a base of ours, else a snapshot of it made one.
        var base = source.header.parentVDIID
        var working = source.vid
        var baseTag: String?
        if base != 0 { baseTag = (try? await cluster.header(base))?.tag }
        if baseTag != Self.baseTag {
            // Written by someone else: a base of its own first; the working VDI left goes below.
            base = source.vid
            working = try await makeBase(name, vid: source.vid, size: source.header.size)
        }
        if replacing, let existing = try? await find(newName) {
            try await delete(existing, name: newName)
        }
        do throws(StoreError) {
            _ = try await cluster.newVDI(newName, size: source.header.size, base: base)
        } catch {
            if case .duplicate = error { throw .duplicate(image: newName) }
            throw error
        }
        try await cluster.setAttribute(newName, key: Self.mtimeKey, value: Array(Self.timeText(time).utf8))
        try await deleteWorking(name, working)
    }

    public func delete(_ name: String) async throws(StoreError) {
        try await delete(try await find(name), name: name)
    }

    private func delete(_ vdi: VDI, name: String) async throws(StoreError) {
        try await cluster.deleteVDI(name, vid: vdi.vid, header: vdi.header)
        if vdi.header.parentVDIID != 0 { try await deleteBase(vdi.header.parentVDIID) }
    }

    public func setModificationTime(_ name: String, to time: Timestamp) async throws(StoreError) {
        _ = try await find(name)
        try await cluster.setAttribute(name, key: Self.mtimeKey, value: Array(Self.timeText(time).utf8))
    }

    static func timeText(_ time: Timestamp) -> String { "\(time.seconds).\(time.nanoseconds)" }

    public func capacity() async throws(StoreError) -> StoreCapacity {
        let node = try await cluster.nodeStatistics()
        return StoreCapacity(totalBytes: node.size, availableBytes: node.free)
    }

    public func location(of name: String) -> String { "sheepdog://\(settings.address):\(settings.port):\(name)" }

    public func attributes(of name: String) async throws(StoreError) -> [String: String] {
        let vdi = try await find(name)
        // Snapshots of the image: VDIs of the same name that are snapshots (dog vdi snapshot).
        let snapshots = try await family(of: name).filter { $0.header.isSnapshot }
            .sorted { $0.header.snapID < $1.header.snapID }
            .map { $0.header.tag.isEmpty ? "snap \($0.header.snapID)" : $0.header.tag }
        return ["sheepdog.vid": String(vdi.vid, radix: 16), "sheepdog.copies": String(vdi.header.copies),
                "sheepdog.block_size": String(vdi.header.objectSize), "sheepdog.snapshots": snapshots.joined(separator: ",")]
    }

    // MARK: Leftovers

    /// Partial writes (working VDIs of the partial prefix) and base snapshots nothing was cloned from.
    func strays(_ vdis: [VDI]) -> [(vdi: VDI, kind: String)] {
        var found: [(VDI, String)] = []
        for vdi in vdis where !vdi.header.isSnapshot && vdi.header.name.hasPrefix(Self.partialPrefix) {
            found.append((vdi, "partial write of glance-storefs"))
        }
        for vdi in vdis where vdi.header.isSnapshot && vdi.header.tag == Self.baseTag
            && !vdis.contains(where: { $0.header.parentVDIID == vdi.vid && !$0.header.isSnapshot }) {
            found.append((vdi, "base snapshot of glance-storefs with no image cloned from it"))
        }
        return found
    }

    public func leftovers() async throws(StoreError) -> [StoreLeftover] {
        strays(try await scan()).map { vdi, kind in
            let name = vdi.header.name
            let image = name.hasPrefix(Self.partialPrefix) ? String(name.dropFirst(Self.partialPrefix.count).drop { $0 != "." }.dropFirst()) : name
            return StoreLeftover(name: "VDI \(String(vdi.vid, radix: 16)) (\(name)\(vdi.header.isSnapshot ? " snapshot \(vdi.header.snapID)" : ""))",
                                 image: image, size: vdi.header.size, modified: vdi.header.created, kind: kind)
        }
    }

    /// Removes what a kill or a crash left (older than `age` seconds); younger ones may be another
    /// mount's write in progress and are only reported.
    func cleanLeftovers(olderThan age: Int64) async {
        do {
            let vdis = try await scan()
            let now = Timestamp.now
            for (vdi, kind) in strays(vdis) {
                let time = vdi.header.isSnapshot ? Timestamp(seconds: Int64(vdi.header.snapshotTime >> 32), nanoseconds: 0) : vdi.header.created
                guard now.seconds - time.seconds >= age else {
                    logger.info("\(kind) (in progress, or cut short less than an hour ago); hidden", metadata: [
                        "store": "\(id)", "vdi": "\(vdi.header.name)"])
                    continue
                }
                if vdi.header.isSnapshot {
                    try await cluster.deleteVDI(vdi.header.name, vid: vdi.vid, header: vdi.header, snapID: vdi.header.snapID)
                } else {
                    try await cluster.deleteVDI(vdi.header.name, vid: vdi.vid, header: vdi.header)
                    if vdi.header.parentVDIID != 0 { try? await deleteBase(vdi.header.parentVDIID) }
                }
                logger.notice("removed the \(kind)", metadata: ["store": "\(id)", "vdi": "\(vdi.header.name)"])
            }
        } catch {
            logger.warning("cannot look for the leftovers of interrupted writes", metadata: ["store": "\(id)", "error": "\(error)"])
        }
    }
}
