import Foundation
import GlanceConfig
import Logging
import Synchronization

/// A cinder store: each image is a Cinder volume named `image-<id>` in the project of
/// `cinder_store_project_name` (of `cinder_volume_type` when set: how several cinder stores share one
/// Cinder), shown as the file `<id>`. Its bytes are reached through Cinder's attachments API, over
/// RBD (librbd) or NFS (libnfs) as the attachment says; written as Glance writes them (size in whole
/// GiB, metadata `glance_image_id`, `image_size`, `image_owner`, then the read-only flag), under a
/// temporary name until complete.
///
/// Volumes in `creating`, `deleting` or an error state are not listed (they hold no image: not yet,
/// not any more, or not reliably); every other state is, with its status as the xattr
/// `user.glance.cinder.status` (reading one that is attached elsewhere fails with EBUSY).
public final class CinderStore: Store {
    public let id: String
    public let type = StoreType.cinder
    public let capabilities: Capabilities = [.rwRandom, .driverReusable, .rename, .setModificationTime, .capacity]
    let settings: CinderStoreSettings
    let api: CinderAPI
    let transports: VolumeTransports
    let attachments: VolumeAttachments
    let logger: Logger
    let buffers: ObjectBufferPool
    /// Volume ids by image name, as last seen: `location(of:)` answers without a request.
    private let volumeIDs = Mutex<[String: String]>([:])

    /// Bytes per write to the volume (and per read-ahead chunk): Cinder's RBD volumes' object size.
    static let blockSize = 4 << 20
    /// Leftovers of a crash younger than this may be another mount's write in progress: reported only.
    static let leftoverAge: Double = 3600

    public init(definition: StoreDefinition, logger: Logger) throws(StoreError) {
        guard let settings = definition.cinder else {
            throw .badStoreConfiguration(store: definition.id, reason: "no cinder settings")
        }
        id = definition.id
        self.settings = settings
        self.logger = logger
        api = CinderAPI(storeID: definition.id, settings: settings, logger: logger)
        transports = VolumeTransports(storeID: definition.id, timeout: Int(settings.timeout), logger: logger)
        attachments = VolumeAttachments(api: api, transports: transports)
        buffers = ObjectBufferPool(objectSize: Self.blockSize, kept: CinderImageWriter.blocksInFlight + 1)
        let api = self.api, id = self.id
        if definition.housekeeping { Task.detached { await Self.cleanLeftovers(api, settings: settings, logger: logger, store: id) } }
    }

    public static func summary(_ definition: StoreDefinition) -> String {
        guard let s = definition.cinder else { return "cinder" }
        return "cinder \(s.credentials)" + (s.volumeType.map { ", volume type \($0)" } ?? "")
    }

    // MARK: Listing

    /// The store's image volumes (its type only, listed states), one per name: the earliest created
    /// where a name is taken twice (a replacing rename in progress, a lost publish race).
    func imageVolumes(_ volumes: [CinderVolume]) -> [String: CinderVolume] {
        var byName: [String: CinderVolume] = [:]
        for volume in volumes where volume.isListed && belongs(volume) {
            guard let name = volume.imageName, ImageName.problem(name) == nil else { continue }
            if let other = byName[name], Self.earlier(other, volume) { continue }
            byName[name] = volume
        }
        volumeIDs.withLock { ids in for (name, volume) in byName { ids[name] = volume.id } }
        return byName
    }

    func belongs(_ volume: CinderVolume) -> Bool {
        guard let type = settings.volumeType else { return true }
        return volume.volumeType == type
    }

    static func earlier(_ a: CinderVolume, _ b: CinderVolume) -> Bool {
        let ta = a.createdAt ?? Timestamp(seconds: 0, nanoseconds: 0), tb = b.createdAt ?? Timestamp(seconds: 0, nanoseconds: 0)
        return ta != tb ? ta < tb : a.id < b.id
    }

    public func list() async throws(StoreError) -> [ImageInfo] {
        let volumes = try await api.volumes()
        return imageVolumes(volumes).map { name, volume in
            ImageInfo(name: name, size: volume.imageSize, modificationTime: volume.modificationTime)
        }
    }

    /// The image's volume (one request: Cinder's name filter).
    func volume(of name: String) async throws(StoreError) -> CinderVolume {
        try ImageName.validate(name)
        let candidates = try await api.volumes(named: CinderVolume.namePrefix + name)
        guard let volume = imageVolumes(candidates)[name] else {
            volumeIDs.withLock { $0[name] = nil }
            throw .notFound(image: name)
        }
        return volume
    }

    public func stat(_ name: String) async throws(StoreError) -> ImageInfo {
        let volume = try await volume(of: name)
        return ImageInfo(name: name, size: volume.imageSize, modificationTime: volume.modificationTime)
    }

    // MARK: Reading

    public func openForReading(_ name: String) async throws(StoreError) -> any ImageReader {
        let volume = try await volume(of: name)
        let device = try await attachments.acquire(volume, image: name)
        noteTransport(volume.id, device.transport)
        // Blocks fetched ahead for sequential readers, as rbd's; the attachment let go at close.
        return ChunkedImageReader(size: volume.imageSize, chunkSize: UInt64(Self.blockSize), depth: 8, describe: "cinder volume \(volume.id)", meters: StoreMeters.of(id),
                                  fetch: { start, length, sequential throws(StoreError) in
                                      try await device.read(at: start, count: length, sequential: sequential)
                                  }, onClose: { [attachments] in attachments.release(volume.id) })
    }

    // MARK: Writing

    public func beginWrite(_ name: String, sizeHint: UInt64?) async throws(StoreError) -> any ImageWriter {
        try ImageName.validate(name)
        if (try? await volume(of: name)) != nil { throw .duplicate(image: name) }
        return try await CinderImageWriter.begin(store: self, name: name, sizeHint: sizeHint)
    }

    public func rename(_ name: String, to newName: String, replacing: Bool) async throws(StoreError) {
        try ImageName.validate(newName)
        let source = try await volume(of: name)
        let target = try? await volume(of: newName)
        if target != nil && !replacing { throw .duplicate(image: newName) }
        if target?.id == source.id { return }
        // The source takes the name first, then the old image goes: the name never shows nothing
        // (the earlier volume wins a shared name until it is deleted).
        try await api.rename(source.id, to: CinderVolume.namePrefix + newName, image: name)
        try await api.setMetadata(source.id, ["glance_image_id": newName], image: newName)
        volumeIDs.withLock { $0[name] = nil; $0[newName] = source.id }
        if let target {
            do throws(StoreError) {
                try await deleteUnused(target, image: newName)
            } catch {
                // Put back as it was: the replaced image is attached (in use) or Cinder refused.
                try? await api.rename(source.id, to: CinderVolume.namePrefix + name, image: name)
                try? await api.setMetadata(source.id, ["glance_image_id": name], image: name)
                volumeIDs.withLock { $0[name] = source.id; $0[newName] = target.id }
                throw error
            }
        }
    }

    public func delete(_ name: String) async throws(StoreError) {
        try await deleteUnused(try await volume(of: name), image: name)
        volumeIDs.withLock { $0[name] = nil }
    }

    /// Deletes the volume of an image (deleted, or replaced by a rename) unless something uses it.
    /// Our own read attachment waiting out its idle time does not count as a use; once it is let go
    /// Cinder takes a moment to say "available" again (longer on NFS), and refuses a delete until then.
    private func deleteUnused(_ found: CinderVolume, image name: String) async throws(StoreError) {
        var volume = found
        switch await attachments.dropIdle(volume.id) {
        case .inUse: throw .inUseByStore(image: name)
        case .detached: volume = try await api.volume(volume.id, image: name)
        case .unattached: if volume.status != "available" { volume = try await api.volume(volume.id, image: name) }
        }
        if volume.status == "detaching" {
            volume = try await api.waitFor(volume.id, image: name, ["available", "in-use"], what: "detaching")
        }
        if volume.status == "in-use" || volume.attachmentCount > 0 { throw .inUseByStore(image: name) }
        try await api.deleteVolume(volume.id, image: name)
    }

    public func setModificationTime(_ name: String, to time: Timestamp) async throws(StoreError) {
        let volume = try await volume(of: name)
        try await api.setMetadata(volume.id, [CinderVolume.mtimeKey: "\(time.seconds).\(time.nanoseconds)"], image: name)
    }

    /// The project's volume gigabytes: its quota (Cinder's limits), or, without one, what is used
    /// plus the free space of the backends is not known to a project user: used + 1 TiB then.
    public func capacity() async throws(StoreError) -> StoreCapacity {
        let limits = try await api.limits()
        let used = UInt64(max(0, limits["totalGigabytesUsed"] ?? 0)) * CinderVolume.gib
        let max = limits["maxTotalVolumeGigabytes"] ?? -1
        let total = max >= 0 ? UInt64(max) * CinderVolume.gib : used + (1 << 40)
        return StoreCapacity(totalBytes: total, availableBytes: total > used ? total - used : 0)
    }

    public func location(of name: String) -> String {
        "cinder://\(id)/" + (volumeIDs.withLock { $0[name] } ?? "")
    }

    public func attributes(of name: String) async throws(StoreError) -> [String: String] {
        let volume = try await volume(of: name)
        var attributes = ["cinder.volume_id": volume.id, "cinder.status": volume.status]
        if let type = volume.volumeType { attributes["cinder.volume_type"] = type }
        if let transport = transportHint(volume) { attributes["cinder.transport"] = transport }
        return attributes
    }

    /// The transport of the volume's last attachment by this mount, if any (known without attaching).
    private let transportsSeen = Mutex<[String: String]>([:])
    func noteTransport(_ volumeID: String, _ transport: String) { transportsSeen.withLock { $0[volumeID] = transport } }
    private func transportHint(_ volume: CinderVolume) -> String? { transportsSeen.withLock { $0[volume.id] } }

    /// Attachments of readers deleted: the mount is ending.
    public func shutdown() async { await attachments.releaseAll() }

    // MARK: Leftovers

    /// Volumes of partial writes (`storefs-partial-*`) of the store's volume type.
    public func leftovers() async throws(StoreError) -> [StoreLeftover] {
        try await api.volumes().filter { volume in
            volume.name.hasPrefix(CinderVolume.partialPrefix) && (settings.volumeType == nil || volume.volumeType == settings.volumeType)
        }.map { volume in
            StoreLeftover(name: "volume \(volume.id) (\(volume.name))",
                          image: String(volume.name.dropFirst(CinderVolume.partialPrefix.count).split(separator: ".").first ?? ""),
                          size: volume.size << 30, modified: volume.updatedAt ?? volume.createdAt, kind: "partial write of glance-storefs")
        }
    }

    /// Volumes a crashed write left (`storefs-partial-*`): removed when older than an hour (no write
    /// takes that long without its volume's `updated_at` moving), reported otherwise.
    static func cleanLeftovers(_ api: CinderAPI, settings: CinderStoreSettings, logger: Logger, store: String) async {
        guard let volumes = try? await api.volumes() else { return }
        let now = Timestamp.now
        for volume in volumes where volume.name.hasPrefix(CinderVolume.partialPrefix) {
            if let type = settings.volumeType, volume.volumeType != type { continue }
            let last = volume.updatedAt ?? volume.createdAt ?? now
            let age = Double(now.seconds - last.seconds)
            guard age > leftoverAge else {
                logger.warning("a partial image's volume (a write in progress, or left by a crash less than an hour ago)", metadata: [
                    "store": "\(store)", "volume": "\(volume.id)", "name": "\(volume.name)", "age_seconds": "\(Int(age))"])
                continue
            }
            do throws(StoreError) {
                // A crashed writer's attachment goes first: an attached volume cannot be deleted.
                for attachment in try await api.attachments(of: volume.id) { try await api.detach(attachment) }
                _ = try await api.waitFor(volume.id, image: volume.name, ["available", "error"], what: "detaching a leftover")
                try await api.deleteVolume(volume.id, image: volume.name)
                logger.notice("removed a partial image's volume left by an interrupted write", metadata: [
                    "store": "\(store)", "volume": "\(volume.id)", "name": "\(volume.name)"])
            } catch {
                logger.warning("cannot remove a partial image's volume", metadata: [
                    "store": "\(store)", "volume": "\(volume.id)", "error": "\(error)"])
            }
        }
    }
}
