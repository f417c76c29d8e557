import StoreFormats

/// One image being written to a sheepdog store: objects written to a hidden VDI as the data
/// arrives (a few in flight), an all-zero object left unallocated (a hole reads as zeros), the VDI
/// grown as it goes when the size is not known and exact at the end; then published by snapshot and
/// clone (`SheepdogStore.publish`). An abort deletes the hidden VDI; a kill leaves it to the next
/// start.
actor SheepdogImageWriter: ImageWriter {
    nonisolated let name: String
    private let store: SheepdogStore
    private let partial: String
    private let vid: UInt32
    private let objectSize: UInt64
    private let sizeHint: UInt64?
    /// The bytes of the object being filled.
    private var pending: [UInt8] = []
    private var written: UInt64 = 0
    /// The VDI's size as its inode says.
    private var declaredSize: UInt64
    private var inFlight: [Task<Void, any Error>] = []
    private var failure: StoreError?
    private var finished = false

    /// Objects written at once.
    static let objectsInFlight = 4

    init(store: SheepdogStore, name: String, partial: String, vid: UInt32, objectSize: UInt64, sizeHint: UInt64?) {
        self.store = store
        self.name = name
        self.partial = partial
        self.vid = vid
        self.objectSize = objectSize
        self.sizeHint = sizeHint
        declaredSize = sizeHint ?? 0
        pending.reserveCapacity(Int(objectSize))
    }

    func write(_ bytes: [UInt8]) async throws(StoreError) {
        guard !finished else { throw .backend("write after the image was published or aborted") }
        if let failure { throw failure }
        if let sizeHint, written + UInt64(bytes.count) > sizeHint {
            throw .backend("\(name): more data than the \(sizeHint) bytes announced")
        }
        var rest = bytes[...]
        while !rest.isEmpty {
            let take = min(rest.count, Int(objectSize) - pending.count)
            pending += rest.prefix(take)
            rest = rest.dropFirst(take)
            written += UInt64(take)
            if pending.count == Int(objectSize) { try await flush() }
        }
    }

    /// Sends the filled object (unless all zeros) and records it in the inode, after growing the
    /// VDI when the data went past its size.
    private func flush() async throws(StoreError) {
        let index = (written - UInt64(pending.count)) / objectSize
        let bytes = pending
        pending.removeAll(keepingCapacity: true)
        if written > declaredSize {
            // Grown ahead (doubling) so that a stream of unknown size costs few header writes.
            declaredSize = max(written, min(declaredSize * 2, declaredSize + (1 << 30)))
            try await store.cluster.writeInode(vid, at: 536, SheepWire.wordBytes([UInt32(truncatingIfNeeded: declaredSize), UInt32(declaredSize >> 32)]))
        }
        guard bytes.contains(where: { $0 != 0 }) else { return }
        while inFlight.count >= Self.objectsInFlight { try await settle(inFlight.removeFirst()) }
        let cluster = store.cluster, vid = self.vid
        inFlight.append(Task {
            try await cluster.createObject(SheepWire.dataObject(vid, index), bytes)
            try await cluster.writeInode(vid, at: SheepWire.dataVDIOffset(index), SheepWire.wordBytes([vid]))
        })
    }

    private func settle(_ task: Task<Void, any Error>) async throws(StoreError) {
        do { try await task.value } catch {
            let failure = (error as? StoreError) ?? .backend("\(error)")
            self.failure = failure
            throw failure
        }
    }

    func publish() async throws(StoreError) -> ImageAddResult {
        guard !finished else { throw .backend("\(name) was already published or aborted") }
        do throws(StoreError) {
            if let failure { throw failure }
            if let sizeHint, written != sizeHint { throw .backend("\(name): \(written) bytes written of the \(sizeHint) announced") }
            if !pending.isEmpty { try await flush() }
            while !inFlight.isEmpty { try await settle(inFlight.removeFirst()) }
            // Exact at the end: the data's size, not the last object's end.
            try await store.cluster.writeInode(vid, at: 536, SheepWire.wordBytes([UInt32(truncatingIfNeeded: written), UInt32(written >> 32)]))
            let (_, working) = try await store.publish(partial, vid: vid, as: name, size: written)
            finished = true
            // The working VDI the snapshot left holds nothing of its own; failing to delete it only
            // leaves a leftover for a later start.
            do throws(StoreError) { try await store.deleteWorking(partial, working) } catch {
                store.logger.warning("cannot delete the hidden VDI of a published image; removed at a later start",
                                     metadata: ["store": "\(store.id)", "vdi": "\(partial)", "error": "\(error)"])
            }
            return ImageAddResult(location: store.location(of: name), size: written, checksum: nil, multihash: nil,
                                  metadata: ["store": store.id])
        } catch {
            await abort()
            throw error
        }
    }

    func abort() async {
        guard !finished else { return }
        finished = true
        for task in inFlight { _ = try? await task.value }
        inFlight = []
        let store = self.store, partial = self.partial, vid = self.vid
        let work: BackendHealth.Work = { () async throws(StoreError) in
            // Gone already when the publish got as far as deleting it.
            guard let header = try? await store.cluster.header(vid), header.name == partial, !header.isSnapshot else { return }
            try await store.cluster.deleteVDI(partial, vid: vid, header: header)
        }
        do throws(StoreError) { try await work() } catch {
            if !store.cluster.health.retryWhenUp("deleting the hidden VDI \(partial)", after: error, work) {
                store.logger.warning("cannot delete the hidden VDI of an aborted write; removed at a later start",
                                     metadata: ["store": "\(store.id)", "vdi": "\(partial)", "error": "\(error)"])
            }
        }
    }
}
