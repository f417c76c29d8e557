import CRBD
import Foundation

/// One image being written to an rbd store, in Glance's layout: created under a temporary name
/// (never listed), grown as data arrives when the size is not known (steps doubling up to 8 GiB,
/// as Glance), written one object-sized chunk at a time with a few writes in flight, all-zero
/// chunks skipped under thin provisioning; at publish trimmed to the bytes written, `snap`
/// created and protected, and only then renamed to the image's name. md5 and sha512 as Glance.
actor RBDImageWriter: ImageWriter {
    nonisolated let name: String
    let temporaryName: String
    private let store: RBDStore
    private var image: RBDImage?
    private var pending: [UInt8] = []
    private var written: UInt64 = 0
    private var allocated: UInt64
    private var growStep: UInt64
    private var inflight: [Task<Void, any Error>] = []
    private let checksums = ImageChecksums()
    private var finished = false

    static let writesInFlight = 4
    static let maxGrowStep: UInt64 = 8 << 30

    private init(store: RBDStore, name: String, temporaryName: String, image: RBDImage, allocated: UInt64) {
        self.store = store
        self.name = name
        self.temporaryName = temporaryName
        self.image = image
        self.allocated = allocated
        self.growStep = store.settings.chunkSize
    }

    static func begin(store: RBDStore, name: String, sizeHint: UInt64?) async throws(StoreError) -> RBDImageWriter {
        let temporary = RBDStore.partialPrefix + name + "." + String(UInt64.random(in: 0...UInt64.max), radix: 16)
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
        return RBDImageWriter(store: store, name: name, temporaryName: temporary, image: image, allocated: size)
    }

    func write(_ bytes: [UInt8]) async throws(StoreError) {
        guard !finished, image != nil else { throw .backend("write after the image was published or aborted") }
        pending.append(contentsOf: bytes)
        let chunk = Int(store.settings.chunkSize)
        guard pending.count >= chunk else { return }
        var start = 0
        while pending.count - start >= chunk {
            try await submit(Array(pending[start..<start + chunk]))
            start += chunk
        }
        pending.removeFirst(start)
    }

    /// Hashes a chunk in order and starts writing it at the current end.
    private func submit(_ chunk: [UInt8]) async throws(StoreError) {
        chunk.withUnsafeBytes { checksums.update($0) }
        let offset = written
        written += UInt64(chunk.count)
        if store.settings.thinProvisioning && chunk.allSatisfy({ $0 == 0 }) {
            try await grow(to: written)  // the size still covers it; the objects are never made
            return
        }
        try await grow(to: written)
        if inflight.count >= Self.writesInFlight {
            let oldest = inflight.removeFirst()
            try await Self.wait(oldest, name)
        }
        guard let image else { return }
        let name = self.name
        inflight.append(Task {
            try await BlockingIO.run { () throws(StoreError) in
                let rc = chunk.withUnsafeBytes { rbd_write(image.handle, offset, $0.count, $0.baseAddress) }
                guard rc == chunk.count else { throw RBDCluster.error(Int32(min(rc, -Int(EIO))), image: name, "writing") }
            }
        })
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
        let name = self.name
        try await BlockingIO.run { () throws(StoreError) in
            let rc = rbd_resize(image.handle, size)
            guard rc == 0 else { throw RBDCluster.error(rc, image: name, "resizing") }
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
        let (checksum, multihash) = checksums.finish()
        return ImageAddResult(location: store.location(of: name), size: written, checksum: checksum,
                              multihash: multihash, metadata: ["store": store.id])
    }

    /// The last bytes written, every write done, the size trimmed, `snap` created and protected.
    private func completeData() async throws(StoreError) {
        if !pending.isEmpty {
            let tail = pending
            pending = []
            try await submit(tail)
        }
        for task in inflight { try await Self.wait(task, name) }
        inflight = []
        guard let image else { return }
        if allocated != written { try await resize(image, to: written) }
        let name = self.name
        try await BlockingIO.run { () throws(StoreError) in
            var rc = rbd_flush(image.handle)
            guard rc == 0 else { throw RBDCluster.error(rc, image: name, "flushing") }
            rc = rbd_snap_create(image.handle, RBDStore.snapshot)
            guard rc == 0 else { throw RBDCluster.error(rc, image: name, "creating snap") }
            rc = rbd_snap_protect(image.handle, RBDStore.snapshot)
            guard rc == 0 else { throw RBDCluster.error(rc, image: name, "protecting snap") }
        }
    }

    func abort() async {
        guard !finished else { return }
        await discard()
    }

    private func discard() async {
        finished = true
        for task in inflight { _ = await task.result }
        inflight = []
        image = nil
        let temporary = temporaryName
        do {
            try await store.cluster.run { c throws(StoreError) in try RBDStore.remove(c, temporary) }
        } catch {
            store.logger.warning("cannot remove an aborted image; it is removed at a later start",
                                 metadata: ["store": "\(store.id)", "image": "\(temporary)", "error": "\(error)"])
        }
    }
}
