import CRBD
import Dispatch
import Foundation

/// One image being written to an rbd store, in Glance's layout: created under a temporary name
/// (never listed), grown as data arrives when the size is not known (steps doubling up to 8 GiB,
/// as Glance), written as the data arrives with several writes in flight, zeros skipped under
/// thin provisioning; at publish trimmed to the bytes written, md5 and sha512 (computed as
/// Glance does) kept as metadata, `snap` created and protected, and only then renamed.
actor RBDImageWriter: ImageWriter {
    nonisolated let name: String
    let temporaryName: String
    private let store: RBDStore
    private var image: RBDImage?
    private var written: UInt64 = 0
    private var allocated: UInt64
    private var growStep: UInt64
    /// Writes (and their hashing) not yet known to be done, with their sizes.
    private var inflight: [(task: Task<Void, any Error>, size: Int)] = []
    private var inflightBytes: Int { inflight.reduce(0) { $0 + $1.size } }
    private let checksums = ChecksumPipeline()
    private var finished = false
    private var digests = (checksum: "", multihash: "")

    /// Bytes being written or hashed at once: the memory bound of a write.
    static let bytesInFlight = 32 << 20
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
        return RBDImageWriter(store: store, name: name, temporaryName: temporary, image: image, allocated: size)
    }

    /// Each piece goes to librbd as it came (no gathering into objects: librbd splits and merges),
    /// hashed in order beside the write.
    func write(_ bytes: [UInt8]) async throws(StoreError) {
        guard !finished, image != nil else { throw .backend("write after the image was published or aborted") }
        guard !bytes.isEmpty else { return }
        let hashed = DispatchGroup()
        checksums.enqueue(bytes, group: hashed)
        let offset = written
        written += UInt64(bytes.count)
        try await grow(to: written)
        while inflightBytes + bytes.count > Self.bytesInFlight, !inflight.isEmpty {
            try await Self.wait(inflight.removeFirst().task, name)
        }
        guard let image else { return }
        let name = self.name
        let ranges = store.settings.thinProvisioning ? Self.nonZeroRanges(bytes, at: offset, objectSize: Int(store.settings.chunkSize))
                                                     : [0..<bytes.count]
        inflight.append((Task {
            if !ranges.isEmpty {
                try await BlockingIO.run { () throws(StoreError) in
                    let failed: Int? = bytes.withUnsafeBytes { raw in
                        for range in ranges {
                            let rc = rbd_write(image.handle, offset + UInt64(range.lowerBound), range.count, raw.baseAddress! + range.lowerBound)
                            if rc != range.count { return min(rc, -Int(EIO)) }
                        }
                        return nil
                    }
                    if let failed { throw RBDCluster.error(Int32(failed), image: name, "writing") }
                }
            }
            await hashed.completion()
        }, bytes.count))
    }

    /// Thin provisioning: the parts of a piece, cut at object boundaries, that are not all zero.
    /// The image is new and written once, so zeros need no writing: an object that only zeros
    /// would reach is never made (Glance skips all-zero chunks of the object size).
    static func nonZeroRanges(_ bytes: [UInt8], at offset: UInt64, objectSize: Int) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        bytes.withUnsafeBytes { raw in
            while start < raw.count {
                let toBoundary = objectSize - Int(((offset + UInt64(start)) % UInt64(objectSize)))
                let end = min(raw.count, start + toBoundary)
                if !Zeros.only(UnsafeRawBufferPointer(rebasing: raw[start..<end])) {
                    if let last = ranges.last, last.upperBound == start { ranges[ranges.count - 1] = last.lowerBound..<end }
                    else { ranges.append(start..<end) }
                }
                start = end
            }
        }
        return ranges
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
        return ImageAddResult(location: store.location(of: name), size: written, checksum: digests.checksum,
                              multihash: digests.multihash, metadata: ["store": store.id])
    }

    /// The last bytes written, every write done, the size trimmed, `snap` created and protected.
    private func completeData() async throws(StoreError) {
        for (task, _) in inflight { try await Self.wait(task, name) }
        inflight = []
        guard let image else { return }
        if allocated != written { try await resize(image, to: written) }
        let name = self.name
        // Glance's checksum and os_hash_value kept with the image (getfattr shows them: what an
        // image record needs when the image is registered in Glance).
        let digests = await checksums.finish()
        self.digests = digests
        try await BlockingIO.run { () throws(StoreError) in
            for (key, value) in [(RBDStore.checksumKey, digests.checksum), (RBDStore.hashAlgoKey, "sha512"),
                                 (RBDStore.hashValueKey, digests.multihash)] {
                let rc = rbd_metadata_set(image.handle, key, value)
                guard rc == 0 else { throw RBDCluster.error(rc, image: name, "setting \(key)") }
            }
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
        for (task, _) in inflight { _ = await task.result }
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
