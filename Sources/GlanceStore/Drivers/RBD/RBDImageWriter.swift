import CRBD
import Dispatch
import Foundation

/// One image being written to an rbd store, in Glance's layout: created under a temporary name
/// (never listed), grown as data arrives when the size is not known (steps doubling up to 8 GiB,
/// as Glance), gathered into whole objects and written one object per asynchronous librbd write,
/// several in flight, all-zero objects skipped under thin provisioning (Glance's rule); at publish
/// trimmed to the bytes written, `snap` created and protected, and only then renamed.
///
/// Nothing is hashed here: on two cores md5 + sha512 of every byte cost more CPU than writing it
/// (both hashes run at ~600 MB/s a core). Glance's checksum and os_hash_value are computed on
/// demand from what the store holds (`user.glance.checksum`), and kept then.
actor RBDImageWriter: ImageWriter {
    nonisolated let name: String
    let temporaryName: String
    private let store: RBDStore
    private var image: RBDImage?
    private var written: UInt64 = 0
    private var allocated: UInt64
    private var growStep: UInt64
    /// The object being gathered: starts at `written - pending.count`, an object boundary.
    private var pending: ObjectBuffer
    /// Object writes not yet known to be done: what the writer waits for (at most the store's
    /// timeout), and librbd's write itself (which holds the object's buffer until it ends).
    private var inflight: [(bounded: Task<Void, any Error>, sent: Task<Int, Never>)] = []
    private var finished = false
    /// Set in the image's metadata before it is renamed into place (no second open to set it).
    private var modificationTime: Timestamp?

    /// Objects written at once (each its own librbd write): the memory bound of a write is this
    /// many objects plus the one being gathered. rbd import keeps 10 operations in flight.
    static let objectsInFlight = 6
    static let maxGrowStep: UInt64 = 8 << 30

    private init(store: RBDStore, name: String, temporaryName: String, image: RBDImage, allocated: UInt64,
                 first: ObjectBuffer) {
        self.store = store
        self.name = name
        self.temporaryName = temporaryName
        self.image = image
        self.allocated = allocated
        self.growStep = store.settings.chunkSize
        pending = first
    }

    static func begin(store: RBDStore, name: String, sizeHint: UInt64?) async throws(StoreError) -> RBDImageWriter {
        // The image's name in it (up to 64 characters) tells an operator what a leftover was.
        let temporary = RBDStore.partialPrefix + name.prefix(64) + "." + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let size = sizeHint ?? 0
        let order = store.settings.order
        let image = try await store.cluster.run { c throws(StoreError) -> RBDImage in
            var options: rbd_image_options_t?
            rbd_image_options_create(&options)
            defer { rbd_image_options_destroy(options) }
            rbd_image_options_set_uint64(options, Int32(RBD_IMAGE_OPTION_FORMAT), 2)
            rbd_image_options_set_uint64(options, Int32(RBD_IMAGE_OPTION_ORDER), UInt64(order))
            // Features: left to the cluster's rbd_default_features, as Glance does.
            let rc = rbd_create4(c.ioctx, temporary, size, options)
            guard rc == 0 else { throw RBDCluster.error(rc, image: name, "creating") }
            return try RBDImage(c, temporary, readOnly: false)
        }
        store.objectBuffers.writerStarted()
        do throws(StoreError) {
            let first = try store.objectBuffers.take()
            return RBDImageWriter(store: store, name: name, temporaryName: temporary, image: image, allocated: size, first: first)
        } catch {
            store.objectBuffers.writerEnded()
            try? await store.cluster.run { c throws(StoreError) in try RBDStore.remove(c, temporary) }
            throw error
        }
    }

    /// Bytes are gathered into the current object; a full object goes to librbd as one write
    /// (one OSD operation instead of one per FUSE request).
    func write(_ bytes: [UInt8]) async throws(StoreError) {
        guard !finished, image != nil else { throw .backend("write after the image was published or aborted") }
        try store.cluster.health.check()
        var rest = bytes[...]
        while !rest.isEmpty {
            let taken = pending.append(rest)
            rest = rest.dropFirst(taken)
            written += UInt64(taken)
            if pending.isFull { try await submitPending() }
        }
    }

    /// Sends the gathered object (skipped when all zero under thin provisioning: the image is new
    /// and written once, so an object never made reads as zeros) and starts the next one.
    private func submitPending() async throws(StoreError) {
        guard !pending.isEmpty, let image else { return }
        let object = pending
        let offset = written - UInt64(object.count)
        pending = try store.objectBuffers.take()
        if store.settings.thinProvisioning, Zeros.only(object.bytes) {
            store.objectBuffers.give(object)
            return
        }
        do throws(StoreError) {
            try await grow(to: written)
            while inflight.count >= Self.objectsInFlight { try await Self.wait(inflight.removeFirst().bounded, name) }
        } catch {
            store.objectBuffers.give(object)
            throw error
        }
        let name = self.name, pool = store.objectBuffers, health = store.cluster.health, bound = self.bound
        let sent = Task {
            defer { pool.give(object) }
            return await RBDAsync.write(image, offset: offset, object.bytes)
        }
        let bounded = Task<Void, any Error> {
            try await health.guarded { () throws(StoreError) in
                guard let rc = await awaitAtMost(seconds: bound, sent) else { throw .timedOut("writing of \(name)") }
                if rc < 0 { throw RBDCluster.error(Int32(rc), image: name, "writing") }
            }
        }
        inflight.append((bounded: bounded, sent: sent))
    }

    /// What one call into librbd may take: it may chain OSD operations (the object map, then the
    /// data), each with the store's timeout; the writer waits for one of them, and a second more.
    private var bound: Double { Double(store.settings.timeout) + 1 }

    /// `call` on a thread of its own, waited for at most `bound` seconds.
    private static func blocking(_ what: String, of name: String, bound: Double,
                                 _ call: @escaping @Sendable () throws(StoreError) -> Void) async throws(StoreError) {
        let outcome = Task { () -> Result<Void, StoreError> in
            do throws(StoreError) { return .success(try await BlockingIO.run(call)) } catch { return .failure(error) }
        }
        try await within(seconds: bound, "\(what) of \(name)", outcome)
    }

    private static func wait(_ task: Task<Void, any Error>, _ name: String) async throws(StoreError) {
        do { try await task.value } catch { throw (error as? StoreError) ?? .backend("writing \(name): \(error)") }
    }

    /// Glance grows an image of unknown size in steps that double up to 8 GiB.
    private func grow(to size: UInt64) async throws(StoreError) {
        guard size > allocated, let image else { return }
        var target = allocated
        while target < size {
            target += growStep
            growStep = min(growStep * 2, Self.maxGrowStep)
        }
        try await resize(image, to: target)
        allocated = target
    }

    private func resize(_ image: RBDImage, to size: UInt64) async throws(StoreError) {
        let name = self.name, bound = self.bound
        try await store.cluster.health.guarded { () throws(StoreError) in
            try await Self.blocking("resizing", of: name, bound: bound) { () throws(StoreError) in
                let rc = rbd_resize(image.handle, size)
                guard rc == 0 else { throw RBDCluster.error(rc, image: name, "resizing") }
            }
        }
    }

    func publish() async throws(StoreError) -> ImageAddResult {
        guard !finished, image != nil else { throw .backend("publish after the image was published or aborted") }
        do {
            try await completeData()
            image = nil  // closed before the rename, and before a removal if the rename fails
            let temporary = temporaryName, name = self.name
            try await store.cluster.run { c throws(StoreError) in
                let rc = rbd_rename(c.ioctx, temporary, name)
                guard rc == 0 else { throw RBDCluster.error(rc, image: name, "publishing") }
            }
        } catch {
            await discard()
            throw error
        }
        finished = true
        store.objectBuffers.give(pending)
        store.objectBuffers.writerEnded()
        return ImageAddResult(location: store.location(of: name), size: written, checksum: nil,
                              multihash: nil, metadata: ["store": store.id])
    }

    /// The last bytes written, every write done, the size trimmed, `snap` created and protected.
    private func completeData() async throws(StoreError) {
        try await submitPending()
        for write in inflight { try await Self.wait(write.bounded, name) }
        inflight = []
        guard let image else { return }
        if allocated != written { try await resize(image, to: written) }
        let name = self.name, bound = self.bound, time = modificationTime
        try await store.cluster.health.guarded { () throws(StoreError) in
            if let time {
                try await Self.blocking("setting the modification time", of: name, bound: bound) { () throws(StoreError) in
                    let rc = rbd_metadata_set(image.handle, RBDStore.mtimeKey, "\(time.seconds).\(time.nanoseconds)")
                    guard rc == 0 else { throw RBDCluster.error(rc, image: name, "setting the modification time") }
                }
            }
            try await Self.blocking("flushing", of: name, bound: bound) { () throws(StoreError) in
                let rc = rbd_flush(image.handle)
                guard rc == 0 else { throw RBDCluster.error(rc, image: name, "flushing") }
            }
            try await Self.blocking("creating snap", of: name, bound: bound) { () throws(StoreError) in
                let rc = rbd_snap_create(image.handle, RBDStore.snapshot)
                guard rc == 0 else { throw RBDCluster.error(rc, image: name, "creating snap") }
            }
            try await Self.blocking("protecting snap", of: name, bound: bound) { () throws(StoreError) in
                let rc = rbd_snap_protect(image.handle, RBDStore.snapshot)
                guard rc == 0 else { throw RBDCluster.error(rc, image: name, "protecting snap") }
            }
        }
    }

    func publishWith(modificationTime time: Timestamp) async -> Bool {
        guard !finished else { return false }
        modificationTime = time
        return true
    }

    func abort() async {
        guard !finished else { return }
        await discard()
    }

    private func discard() async {
        finished = true
        let writes = inflight
        inflight = []
        store.objectBuffers.give(pending)
        store.objectBuffers.writerEnded()
        image = nil  // closed once the last write in flight lets go of it
        // librbd may hold writes back while the cluster does not answer, past the OSD timeout: the
        // image is removed once every write came back, in the background when that takes longer
        // than the store's timeout, so that the writer hears of the failure without waiting.
        let temporary = temporaryName, store = self.store
        let cleanup = Task.detached {
            for write in writes { _ = await write.sent.value }
            await Self.remove(temporary, of: store)
        }
        if await awaitAtMost(seconds: Double(store.settings.timeout), cleanup) == nil {
            store.logger.notice("writes of an aborted image are still at the cluster; it is removed once they end",
                                metadata: ["store": "\(store.id)", "image": "\(temporary)"])
        }
    }

    private static func remove(_ temporary: String, of store: RBDStore) async {
        let cluster = store.cluster
        let remove = { @Sendable () async throws(StoreError) in try await RBDStore.removePartial(temporary, cluster) }
        do throws(StoreError) { try await remove() } catch {
            // A cluster that went away takes it back when it answers again.
            if cluster.health.retryWhenUp("removing the aborted image \(temporary)", after: error, remove) { return }
            store.logger.warning("cannot remove an aborted image; it is removed at a later start",
                                 metadata: ["store": "\(store.id)", "image": "\(temporary)", "error": "\(error)"])
        }
    }
}
