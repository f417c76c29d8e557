import Foundation

/// One image being written to a cinder store, as Glance writes it but atomically: a volume of
/// ceil(size / 1 GiB) (at least 1; of unknown size, 1 GiB extended by 1 GiB as data arrives, as
/// Glance does) named `storefs-partial-<image>.<random>`, attached read-write, written in blocks
/// (several in flight), detached; then the metadata Glance sets (`glance_image_id`, `image_size`,
/// `image_owner`), the read-only flag, and last the name `image-<image>`. Abort deletes it.
actor CinderImageWriter: ImageWriter {
    nonisolated let name: String
    private let store: CinderStore
    private var volume: CinderVolume
    private var attachmentID: String?
    private var device: (any VolumeDevice)?
    private var allocatedGiB: UInt64
    private var written: UInt64 = 0
    private var pending: ObjectBuffer
    private var inflight: [Task<Void, any Error>] = []
    private var finished = false
    private var lastSign = ContinuousClock.now

    static let blocksInFlight = 12
    /// A long write touches its volume's metadata this often, so that its `updated_at` says it is
    /// alive: other mounts remove partial volumes untouched for an hour.
    static let signOfLife: Duration = .seconds(600)

    private init(store: CinderStore, name: String, volume: CinderVolume, first: ObjectBuffer) {
        self.store = store
        self.name = name
        self.volume = volume
        allocatedGiB = volume.size
        pending = first
    }

    static func begin(store: CinderStore, name: String, sizeHint: UInt64?) async throws(StoreError) -> CinderImageWriter {
        let api = store.api
        let token = try await api.session.token()
        let temporary = CinderVolume.partialPrefix + name.prefix(64) + "." + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let size = max(1, ((sizeHint ?? 0) + CinderVolume.gib - 1) / CinderVolume.gib)
        let created = try await api.createVolume(name: temporary, sizeGiB: size, type: store.settings.volumeType,
                                                 metadata: ["glance_image_id": name, "image_owner": token.projectID], image: name)
        store.buffers.writerStarted()
        do throws(StoreError) {
            let ready = try await api.waitFor(created.id, image: name, ["available"], what: "creating the volume of \(name)")
            let writer = CinderImageWriter(store: store, name: name, volume: ready, first: try store.buffers.take())
            try await writer.attach()
            return writer
        } catch {
            store.buffers.writerEnded()
            await Self.remove(created.id, store: store)
            throw error
        }
    }

    private func attach() async throws(StoreError) {
        let (id, connection) = try await store.api.attach(volume.id, readOnly: false, image: name)
        attachmentID = id
        do throws(StoreError) {
            let opened = try await store.transports.open(connection, readOnly: false, image: name)
            store.noteTransport(volume.id, opened.transport)
            device = opened
        } catch {
            try? await detach()
            throw error
        }
    }

    /// Every write done and flushed, the device closed, the attachment deleted.
    private func detach() async throws(StoreError) {
        for write in inflight { try await Self.wait(write, name) }
        inflight = []
        if let device { try await device.flush() }
        device = nil
        if let id = attachmentID {
            attachmentID = nil
            try await store.api.detach(id)
            _ = try await store.api.waitFor(volume.id, image: name, ["available"], what: "detaching the volume of \(name)")
        }
    }

    func write(_ bytes: [UInt8]) async throws(StoreError) {
        guard !finished else { throw .backend("write after the image was published or aborted") }
        try store.api.health.check()
        var rest = bytes[...]
        while !rest.isEmpty {
            let taken = pending.append(rest)
            rest = rest.dropFirst(taken)
            written += UInt64(taken)
            if pending.isFull { try await submitPending() }
        }
        if ContinuousClock.now - lastSign > Self.signOfLife {
            lastSign = .now
            try await store.api.setMetadata(volume.id, ["storefs_written": String(written)], image: name)
        }
    }

    private func submitPending() async throws(StoreError) {
        guard !pending.isEmpty else { return }
        let block = pending
        let offset = written - UInt64(block.count)
        pending = try store.buffers.take()
        do throws(StoreError) {
            try await grow(to: written)
            while inflight.count >= Self.blocksInFlight { try await Self.wait(inflight.removeFirst(), name) }
        } catch {
            store.buffers.give(block)
            throw error
        }
        guard let device else {
            store.buffers.give(block)
            throw .backend("writing \(name): the volume is not attached")
        }
        let pool = store.buffers
        inflight.append(Task {
            defer { pool.give(block) }
            try await device.write(at: offset, block)
        })
    }

    /// A volume too small for what arrived is extended by whole GiB, as Glance does: detached,
    /// `os-extend`, attached again (Cinder extends an available volume on every backend).
    private func grow(to size: UInt64) async throws(StoreError) {
        guard size > allocatedGiB * CinderVolume.gib else { return }
        let target = (size + CinderVolume.gib - 1) / CinderVolume.gib
        try await detach()
        do throws(StoreError) {
            try await store.api.action(volume.id, ["os-extend": ["new_size": target]], image: name, what: "extending")
        } catch {
            if case .backend = error { throw .storageFull("extending the volume of \(name) to \(target) GiB: \(error)") }
            throw error
        }
        volume = try await store.api.waitFor(volume.id, image: name, ["available"], what: "extending the volume of \(name)")
        allocatedGiB = volume.size
        try await attach()
    }

    func publish() async throws(StoreError) -> ImageAddResult {
        guard !finished else { throw .backend("publish after the image was published or aborted") }
        let api = store.api
        do throws(StoreError) {
            try await submitPending()
            try await detach()
            let token = try await api.session.token()
            try await api.setMetadata(volume.id, ["glance_image_id": name, "image_size": String(written),
                                                  "image_owner": token.projectID], image: name)
            try await api.action(volume.id, ["os-update_readonly_flag": ["readonly": true]], image: name, what: "setting read-only")
            if (try? await store.volume(of: name)) != nil { throw StoreError.duplicate(image: name) }
            try await api.rename(volume.id, to: CinderVolume.namePrefix + name, image: name)
            // Two writers that passed the check together: the volume created first keeps the name.
            let holder = try await store.volume(of: name)
            if holder.id != volume.id { throw StoreError.duplicate(image: name) }
        } catch {
            await discard()
            throw error
        }
        finished = true
        store.buffers.give(pending)
        store.buffers.writerEnded()
        return ImageAddResult(location: "cinder://\(store.id)/\(volume.id)", size: written, checksum: nil, multihash: nil,
                              metadata: ["store": store.id])
    }

    func abort() async {
        guard !finished else { return }
        await discard()
    }

    private func discard() async {
        finished = true
        store.buffers.give(pending)
        store.buffers.writerEnded()
        let writes = inflight
        inflight = []
        for write in writes { _ = try? await write.value }
        device = nil
        if let id = attachmentID {
            attachmentID = nil
            try? await store.api.detach(id)
        }
        await Self.remove(volume.id, store: store)
    }

    /// Deletes a partial image's volume once it is detached; put off while Cinder does not answer.
    private static func remove(_ volumeID: String, store: CinderStore) async {
        let api = store.api
        let remove = { @Sendable () async throws(StoreError) in
            _ = try? await api.waitFor(volumeID, image: volumeID, ["available", "error"], what: "detaching")
            do throws(StoreError) { try await api.deleteVolume(volumeID, image: volumeID) } catch {
                if case .notFound = error { return }
                throw error
            }
        }
        do throws(StoreError) { try await remove() } catch {
            if api.health.retryWhenUp("deleting the aborted volume \(volumeID)", after: error, remove) { return }
            store.logger.warning("cannot delete an aborted image's volume; it is removed at a later start", metadata: [
                "store": "\(store.id)", "volume": "\(volumeID)", "error": "\(error)"])
        }
    }

    private static func wait(_ task: Task<Void, any Error>, _ name: String) async throws(StoreError) {
        do { try await task.value } catch { throw (error as? StoreError) ?? .backend("writing \(name): \(error)") }
    }
}
