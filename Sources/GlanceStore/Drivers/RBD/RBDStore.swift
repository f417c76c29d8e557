import CRBD
import Foundation
import GlanceConfig
import Logging
import Synchronization

/// Glance's rbd store (`gs/_drivers/rbd.py`): one RBD image per Glance image, named by the image
/// id, in `rbd_store_pool`; format 2, object order from `rbd_store_chunk_size`, the cluster's
/// default features; once written, a protected snapshot `snap` that Nova and Cinder clone from.
/// Images being written carry a temporary name (`partialPrefix`) and are never listed; they get
/// their final name by `rbd_rename` only when complete, with `snap` already protected.
public final class RBDStore: Store {
    public let id: String
    public let type = StoreType.rbd
    public let capabilities: Capabilities = [.readRandom, .writeAccess, .rename, .setModificationTime, .capacity, .keepDigests, .publishOnRename]
    let settings: RBDSettings
    let cluster: RBDCluster
    let objectBuffers: ObjectBufferPool
    /// What this store's sequential readers keep ahead between them.
    let readAheadBudget = ReadAheadBudget(chunks: RBDImageReader.budget)
    let logger: Logger

    static let partialPrefix = "glance-storefs-partial."
    static let snapshot = "snap"
    /// Image metadata holding an mtime set by utimens ("seconds.nanoseconds"): librbd's own modify
    /// timestamp cannot be set, and `rsync -a` needs the source's time to stay.
    static let mtimeKey = "glance_storefs.mtime"
    /// Image metadata with Glance's hashes of the image, computed on demand, and what the image
    /// was when they were ("size:seconds.nanoseconds" of librbd's own modify timestamp, which
    /// metadata changes leave alone): hashes of an image changed since are not shown.
    static let checksumKey = "glance_storefs.checksum"
    static let hashAlgoKey = "glance_storefs.os_hash_algo"
    static let hashValueKey = "glance_storefs.os_hash_value"
    static let hashedKey = "glance_storefs.hashed"
    /// Leftovers of writes cut short older than this are removed at start; newer ones may belong
    /// to another mount still writing and are only reported.
    static let leftoverAge: TimeInterval = 3600

    public init(definition: StoreDefinition, logger: Logger) throws(StoreError) {
        id = definition.id
        settings = RBDSettings(definition)
        self.logger = logger
        cluster = RBDCluster(settings: settings, storeID: definition.id, logger: logger)
        objectBuffers = ObjectBufferPool(objectSize: Int(settings.chunkSize), kept: RBDImageWriter.objectsInFlight + 1)
        let cluster = self.cluster, logger = self.logger, id = self.id
        if definition.housekeeping { Task.detached { await Self.cleanLeftovers(cluster, logger: logger, store: id) } }
    }

    /// One line for `check`: where the store's images are and as whom (no secret is in these options).
    public static func summary(_ definition: StoreDefinition) -> String {
        let s = RBDSettings(definition)
        return "pool \(s.pool) as " + (s.user.map { "client.\($0)" } ?? "librados' default user")
            + ", " + (s.cephConf ?? "librados' default ceph.conf") + ", \(s.chunkSize >> 20) MiB objects"
            + (s.thinProvisioning ? ", thin" : "")
    }

    // MARK: Listing

    public func list() async throws(StoreError) -> [ImageInfo] {
        try await cluster.run { c throws(StoreError) in
            try Self.infos(c, Self.images(c).filter { !$0.name.hasPrefix(Self.partialPrefix) })
        }
    }

    public func stat(_ name: String) async throws(StoreError) -> ImageInfo {
        try ImageName.validate(name)
        guard !name.hasPrefix(Self.partialPrefix) else { throw .notFound(image: name) }
        return try await cluster.run { c throws(StoreError) in
            var id = [CChar](repeating: 0, count: 128)
            let rc = storefs_image_id(c.ioctx, name, &id, id.count)
            if rc == -ENOENT { throw .notFound(image: name) }
            // Not a format-2 image as this knows it: open it. Any other failure is the answer (an
            // OSD that timed out would only time out again, doubling what a user waits).
            if rc == -ENODATA { return try Self.info(c, name) }
            guard rc > 0 else { throw RBDCluster.error(rc, image: name, "reading the id") }
            let found = try Self.infos(c, [(id: id.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }, name: name)])
            guard let info = found.first else { throw .notFound(image: name) }
            return info
        }
    }

    /// Every image of the pool: librbd's id and name.
    static func images(_ c: RBDCluster.Connection) throws(StoreError) -> [(id: String, name: String)] {
        var count = 64
        while true {
            var specs = [rbd_image_spec_t](repeating: rbd_image_spec_t(), count: count)
            let rc = rbd_list2(c.ioctx, &specs, &count)
            if rc == -ERANGE { continue }  // count now says how many there are
            guard rc >= 0 else { throw RBDCluster.error(rc, image: "(pool)", "listing the pool") }
            let images = specs.prefix(count).map { (id: String(cString: $0.id), name: String(cString: $0.name)) }
            rbd_image_spec_list_cleanup(&specs, count)
            return images
        }
    }

    /// Size and time of images from their header objects, all read at once (see the shim); an image
    /// whose header is not what this knows is opened instead, one removed meanwhile is left out.
    static func infos(_ c: RBDCluster.Connection, _ images: [(id: String, name: String)]) throws(StoreError) -> [ImageInfo] {
        guard !images.isEmpty else { return [] }
        let n = images.count
        var sizes = [UInt64](repeating: 0, count: n), seconds = [UInt32](repeating: 0, count: n)
        var nanoseconds = [UInt32](repeating: 0, count: n), results = [Int32](repeating: 0, count: n)
        var mtimes = [UnsafeMutablePointer<CChar>?](repeating: nil, count: n)
        let ids = images.map { strdup($0.id) }
        defer { ids.forEach { free($0) } }
        ids.map { UnsafePointer($0) }.withUnsafeBufferPointer { idPointers in
            storefs_read_headers(c.ioctx, idPointers.baseAddress, n, mtimeKey, &sizes, &seconds, &nanoseconds, &mtimes, &results)
        }
        defer { mtimes.forEach { free($0) } }
        var infos: [ImageInfo] = []
        for k in 0..<n {
            switch results[k] {
            case 0:
                let time = mtimes[k].flatMap { RBDImage.parseTime(String(cString: $0)) }
                    ?? Timestamp(seconds: Int64(seconds[k]), nanoseconds: Int32(nanoseconds[k]))
                infos.append(ImageInfo(name: images[k].name, size: sizes[k], modificationTime: time))
            case -ENOENT:
                continue  // removed meanwhile
            case -ENODATA:
                // Not a header this knows: open the image.
                do throws(StoreError) { infos.append(try info(c, images[k].name)) } catch {
                    if case .notFound = error { continue }
                    throw error
                }
            default:
                throw RBDCluster.error(results[k], image: images[k].name, "reading the header")
            }
        }
        return infos
    }

    /// Size and time of one image by opening it (read-only, header only): for what the header
    /// reading does not know.
    static func info(_ c: RBDCluster.Connection, _ name: String) throws(StoreError) -> ImageInfo {
        let image = try RBDImage(c, name, readOnly: true)
        return ImageInfo(name: name, size: try image.size(), modificationTime: image.modificationTime())
    }

    // MARK: Reading

    public func openForReading(_ name: String) async throws(StoreError) -> any ImageReader {
        try ImageName.validate(name)
        guard !name.hasPrefix(Self.partialPrefix) else { throw .notFound(image: name) }
        let image = try await cluster.run { c throws(StoreError) in try RBDReadOnlyImage(c, name) }
        return RBDImageReader.make(image: image, chunkSize: settings.chunkSize, budget: readAheadBudget, health: cluster.health,
                                   meters: StoreMeters.of(id))
    }

    // MARK: Writing

    public func beginWrite(_ name: String, sizeHint: UInt64?) async throws(StoreError) -> any ImageWriter {
        try ImageName.validate(name)
        guard !name.hasPrefix(Self.partialPrefix) else { throw .invalidImageName(name) }
        let exists: Bool
        do { _ = try await stat(name); exists = true } catch {
            guard case .notFound = error else { throw error }
            exists = false
        }
        if exists { throw .duplicate(image: name) }
        return try await RBDImageWriter.begin(store: self, name: name, sizeHint: sizeHint)
    }

    /// rsync's temp-file rename: `rbd_rename`, no data moved. Replacing an existing image deletes
    /// it first as Glance deletes (a clone of its `snap` makes the rename fail with in-use).
    public func rename(_ name: String, to newName: String, replacing: Bool) async throws(StoreError) {
        try ImageName.validate(name)
        try ImageName.validate(newName)
        guard !newName.hasPrefix(Self.partialPrefix), !name.hasPrefix(Self.partialPrefix) else { throw .invalidImageName(newName) }
        try await cluster.run { c throws(StoreError) in
            if replacing {
                do throws(StoreError) { try Self.remove(c, newName) } catch {
                    guard case .notFound = error else { throw error }
                }
            }
            let rc = rbd_rename(c.ioctx, name, newName)
            guard rc == 0 else { throw RBDCluster.error(rc, image: rc == -EEXIST ? newName : name, "renaming") }
        }
    }

    public func delete(_ name: String) async throws(StoreError) {
        try ImageName.validate(name)
        try await cluster.run { c throws(StoreError) in try Self.remove(c, name) }
    }

    /// As Glance's `_delete_image`: unprotect and remove `snap` (clones of it: in use), then the image.
    static func remove(_ c: RBDCluster.Connection, _ name: String) throws(StoreError) {
        do {  // the image is closed at the end of this scope: an open image makes rbd_remove EBUSY
            let image: RBDImage
            do { image = try RBDImage(c, name, readOnly: false) } catch .notFound {
                // No header (a removal cut short: a pool over its quota keeps the directory's
                // entry): rbd_remove still clears what is left, or says the image is not there.
                let rc = rbd_remove(c.ioctx, name)
                guard rc == 0 else { throw RBDCluster.error(rc, image: name, "removing") }
                return
            }
            var exists = false
            _ = rbd_snap_exists(image.handle, snapshot, &exists)
            if exists {
                var isProtected: Int32 = 0
                _ = rbd_snap_is_protected(image.handle, snapshot, &isProtected)
                if isProtected != 0 {
                    let rc = rbd_snap_unprotect(image.handle, snapshot)
                    guard rc == 0 else { throw RBDCluster.error(rc, image: name, "unprotecting snap") }
                }
                let rc = rbd_snap_remove(image.handle, snapshot)
                guard rc == 0 || rc == -ENOENT else { throw RBDCluster.error(rc, image: name, "removing snap") }
            }
        }
        let rc = rbd_remove(c.ioctx, name)
        guard rc == 0 else { throw RBDCluster.error(rc, image: name, "removing") }
    }

    /// Removes an image this mount was writing (under its temporary name: never a published one),
    /// trying again for a minute when the cluster says "later": the image's watch survives an OSD
    /// that restarted under it for the OSD's watch timeout (30 s), the image counting as open
    /// elsewhere until then; and in a pool over its quota, librbd (16) removes through the trash,
    /// whose entry the pool refuses — it then says the image is not there while it still is. Its
    /// data objects are deleted directly then (a full pool takes deletes), which makes the room
    /// the monitors need to see before the removal goes through.
    static func removePartial(_ name: String, _ cluster: RBDCluster) async throws(StoreError) {
        precondition(name.hasPrefix(partialPrefix))
        for attempt in 1... {
            do throws(StoreError) {
                return try await cluster.run { c throws(StoreError) in try remove(c, name) }
            } catch where attempt < 12 {
                switch error {
                case .inUseByStore: break
                case .storageQuotaFull, .storageFull, .notFound:
                    let stillThere = try await cluster.run { c throws(StoreError) -> Bool in
                        guard try images(c).contains(where: { $0.name == name }) else { return false }
                        try dropData(c, name)
                        return true
                    }
                    if !stillThere { return }
                default: throw error
                }
                try? await Task.sleep(for: .seconds(5))
            }
        }
    }

    /// Deletes the data objects of an image straight from the pool (deletes pass in a full pool,
    /// where librbd's discard would first update the object map, which the pool refuses).
    static func dropData(_ c: RBDCluster.Connection, _ name: String) throws(StoreError) {
        precondition(name.hasPrefix(partialPrefix))
        let image = try RBDImage(c, name, readOnly: true)
        var info = rbd_image_info_t()
        var rc = rbd_stat(image.handle, &info, MemoryLayout<rbd_image_info_t>.size)
        guard rc == 0 else { throw RBDCluster.error(rc, image: name, "stat") }
        var prefix = [CChar](repeating: 0, count: 64)
        rc = rbd_get_block_name_prefix(image.handle, &prefix, prefix.count)
        guard rc >= 0 else { throw RBDCluster.error(rc, image: name, "data prefix") }
        let base = String(decoding: prefix.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        for index in 0..<info.num_objs {
            let hex = String(index, radix: 16)
            rc = rados_remove(c.ioctx, base + "." + String(repeating: "0", count: max(0, 16 - hex.count)) + hex)
            guard rc == 0 || rc == -ENOENT else { throw RBDCluster.error(rc, image: name, "deleting data objects") }
        }
    }

    public func keepDigests(_ digests: ImageDigests, of name: String) async throws(StoreError) {
        try ImageName.validate(name)
        try await cluster.run { c throws(StoreError) in
            let image = try RBDImage(c, name, readOnly: false)
            for (key, value) in [(Self.checksumKey, digests.checksum), (Self.hashAlgoKey, ImageDigests.algorithm),
                                 (Self.hashValueKey, digests.multihash), (Self.hashedKey, image.contentStamp())] {
                let rc = rbd_metadata_set(image.handle, key, value)
                guard rc == 0 else { throw RBDCluster.error(rc, image: name, "setting \(key)") }
            }
        }
    }

    public func setModificationTime(_ name: String, to time: Timestamp) async throws(StoreError) {
        try ImageName.validate(name)
        try await cluster.run { c throws(StoreError) in
            let image = try RBDImage(c, name, readOnly: false)
            let rc = rbd_metadata_set(image.handle, Self.mtimeKey, "\(time.seconds).\(time.nanoseconds)")
            guard rc == 0 else { throw RBDCluster.error(rc, image: name, "setting the modification time") }
        }
    }

    public func capacity() async throws(StoreError) -> StoreCapacity {
        try await cluster.runOnMonitors { c throws(StoreError) in
            var stats = rados_cluster_stat_t()
            let rc = rados_cluster_stat(c.cluster, &stats)
            guard rc == 0 else { throw RBDCluster.error(rc, image: "(cluster)", "cluster usage") }
            // The figures come from ceph-mgr: none (all zero) while it is down or just started.
            guard stats.kb > 0 else { throw .operationNotSupported("usage figures (none from the cluster: is ceph-mgr running?)") }
            return StoreCapacity(totalBytes: stats.kb << 10, availableBytes: stats.kb_avail << 10)
        }
    }

    // MARK: Facts

    /// `rbd://<fsid>/<pool>/<image>/snap`, url-quoted, as Glance stores it; `rbd://<image>` before
    /// the cluster was reached (Glance's form without an fsid).
    public func location(of name: String) -> String {
        guard let fsid = cluster.fsid else { return "rbd://\(Self.quote(name))" }
        return "rbd://\(Self.quote(fsid))/\(Self.quote(settings.pool))/\(Self.quote(name))/\(Self.snapshot)"
    }

    static func quote(_ part: String) -> String {
        // Python's urllib.parse.quote(safe='/') minus '/', which no part may contain here.
        part.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn:
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")) ?? part
    }

    public func attributes(of name: String) async throws(StoreError) -> [String: String] {
        let pool = settings.pool
        return try await cluster.run { c throws(StoreError) in
            let image = try RBDImage(c, name, readOnly: true)
            var facts = ["rbd.pool": pool, "rbd.fsid": c.fsid]
            var order = rbd_image_info_t()
            if rbd_stat(image.handle, &order, MemoryLayout<rbd_image_info_t>.size) == 0 {
                facts["rbd.order"] = String(order.order)
                facts["rbd.objects"] = String(order.num_objs)
            }
            var features: UInt64 = 0
            if rbd_get_features(image.handle, &features) == 0 { facts["rbd.features"] = String(features) }
            var exists = false
            _ = rbd_snap_exists(image.handle, Self.snapshot, &exists)
            facts["rbd.snap"] = exists ? "present" : "absent"
            if image.metadata(Self.hashedKey) == image.contentStamp() {
                for (key, attribute) in [(Self.checksumKey, "checksum"), (Self.hashAlgoKey, "os_hash_algo"), (Self.hashValueKey, "os_hash_value")] {
                    if let value = image.metadata(key) { facts[attribute] = value }
                }
            }
            if exists { facts["rbd.snap_clones"] = image.clonesOfSnapshot().joined(separator: ",") }
            return facts
        }
    }

    // MARK: Leftovers

    /// Our partial images, and images in the pool's trash (where glance_store ≥ 4.6 moves an image
    /// that still has clones when Glance deletes it).
    public func leftovers() async throws(StoreError) -> [StoreLeftover] {
        try await cluster.run { c throws(StoreError) in
            var found: [StoreLeftover] = []
            for name in try Self.images(c).map(\.name) where name.hasPrefix(Self.partialPrefix) {
                let image = try? RBDImage(c, name, readOnly: true)
                found.append(StoreLeftover(name: name, image: String(name.dropFirst(Self.partialPrefix.count).split(separator: ".").first ?? ""),
                                           size: image.flatMap { try? $0.size() }, modified: image.map { $0.modificationTime() },
                                           kind: "partial write of glance-storefs"))
            }
            for entry in try Self.trash(c) {
                found.append(StoreLeftover(name: "trash \(entry.id) (\(entry.name))", image: entry.name, size: nil,
                                           modified: Timestamp(seconds: Int64(entry.deleted), nanoseconds: 0),
                                           kind: "image in the pool's trash"))
            }
            return found
        }
    }

    static func trash(_ c: RBDCluster.Connection) throws(StoreError) -> [(id: String, name: String, deleted: Int)] {
        var count = 64
        while true {
            var entries = [rbd_trash_image_info_t](repeating: rbd_trash_image_info_t(), count: count)
            let rc = rbd_trash_list(c.ioctx, &entries, &count)
            if rc == -ERANGE { continue }
            guard rc >= 0 else { throw RBDCluster.error(rc, image: "(trash)", "listing the pool's trash") }
            let found = entries.prefix(Int(rc)).map { (id: String(cString: $0.id), name: String(cString: $0.name), deleted: Int($0.deletion_time)) }
            rbd_trash_list_cleanup(&entries, Int(rc))
            return found
        }
    }

    /// Writes cut short (a crash, kill -9) leave images with the temporary prefix, never a final
    /// name. Old ones are removed; recent ones are reported (another mount may be writing them).
    static func cleanLeftovers(_ cluster: RBDCluster, logger: Logger, store: String) async {
        do {
            try await cluster.run { c throws(StoreError) in
                for name in try images(c).map(\.name) where name.hasPrefix(partialPrefix) {
                    let age = (try? RBDImage(c, name, readOnly: true).modificationTime()).map { Date().timeIntervalSince($0.date) } ?? .infinity
                    if age > leftoverAge {
                        do throws(StoreError) {
                            try remove(c, name)
                            logger.notice("removed the leftover of an interrupted write", metadata: ["store": "\(store)", "image": "\(name)"])
                        } catch {
                            logger.warning("cannot remove the leftover of an interrupted write", metadata: ["store": "\(store)", "image": "\(name)", "error": "\(error)"])
                        }
                    } else {
                        logger.notice("an image is being written (or was, within the last hour)", metadata: ["store": "\(store)", "image": "\(name)"])
                    }
                }
            }
        } catch {
            logger.warning("cannot look for leftovers of interrupted writes", metadata: ["store": "\(store)", "error": "\(error)"])
        }
    }
}

/// An open RBD image, closed when the last reference goes.
final class RBDImage: @unchecked Sendable {
    let handle: rbd_image_t
    let name: String
    /// Kept alive as long as the image is open: librados must not shut down under an open image.
    private let connection: RBDCluster.Connection

    init(_ c: RBDCluster.Connection, _ name: String, readOnly: Bool) throws(StoreError) {
        var image: rbd_image_t?
        let rc = readOnly ? rbd_open_read_only(c.ioctx, name, &image, nil) : rbd_open(c.ioctx, name, &image, nil)
        guard rc == 0, let image else { throw RBDCluster.error(rc, image: name, "opening") }
        handle = image
        self.name = name
        connection = c
    }

    deinit { rbd_close(handle) }

    func size() throws(StoreError) -> UInt64 {
        var size: UInt64 = 0
        let rc = rbd_get_size(handle, &size)
        guard rc == 0 else { throw RBDCluster.error(rc, image: name, "size") }
        return size
    }

    /// One image metadata value, nil when unset.
    func metadata(_ key: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        var length = buffer.count
        guard rbd_metadata_get(handle, key, &buffer, &length) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The time set by utimens if any, else librbd's modify timestamp.
    func modificationTime() -> Timestamp {
        if let time = metadata(RBDStore.mtimeKey).flatMap(Self.parseTime) { return time }
        var time = timespec()
        _ = rbd_get_modify_timestamp(handle, &time)
        return Timestamp(time)
    }

    /// What the image's bytes were when hashed: its size and librbd's own modify timestamp.
    func contentStamp() -> String {
        var time = timespec()
        _ = rbd_get_modify_timestamp(handle, &time)
        return "\((try? size()) ?? 0):\(time.tv_sec).\(time.tv_nsec)"
    }

    /// A time as utimens stored it: "seconds.nanoseconds".
    static func parseTime(_ text: String) -> Timestamp? {
        let parts = text.split(separator: ".")
        guard parts.count == 2, let seconds = Int64(parts[0]), let nanoseconds = Int32(parts[1]) else { return nil }
        return Timestamp(seconds: seconds, nanoseconds: nanoseconds)
    }

    /// "pool/image" of every clone of `snap`.
    func clonesOfSnapshot() -> [String] {
        guard rbd_snap_set(handle, RBDStore.snapshot) == 0 else { return [] }
        defer { rbd_snap_set(handle, nil) }
        var count = 16
        while true {
            var specs = [rbd_linked_image_spec_t](repeating: rbd_linked_image_spec_t(), count: count)
            let rc = rbd_list_children3(handle, &specs, &count)
            if rc == -ERANGE { continue }
            guard rc >= 0 else { return [] }
            let names = specs.prefix(count).map { "\(String(cString: $0.pool_name))/\(String(cString: $0.image_name))" }
            rbd_linked_image_spec_list_cleanup(&specs, count)
            return names
        }
    }
}
