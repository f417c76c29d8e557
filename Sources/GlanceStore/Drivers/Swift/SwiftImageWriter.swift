import NIOCore

/// One image being written to a swift store, in Glance's layout, so that nothing shows under its
/// name before it is complete:
/// - size known and below `large_object_size`: one PUT streamed as the data comes (Swift creates
///   the object only when the last byte arrived);
/// - size unknown: the first bytes are held (up to `bufferLimit`); an image that ends there is
///   one PUT of a known size, as Glance would write it;
/// - otherwise DLO segments `<name>-00001`... of `large_object_chunk_size`, each streamed as the
///   data comes (the next starts while Swift still answers the last), and the manifest last.
/// An abort removes the segments. Every PUT of the final name has `If-None-Match: *`: an image
/// that appeared meanwhile is a duplicate, never overwritten. Nothing is hashed here (as rbd and
/// file): Glance's checksums are computed from what the store holds when asked for.
actor SwiftImageWriter: ImageWriter {
    nonisolated let name: String
    private let store: SwiftStore
    private let container: String
    private let sizeHint: UInt64?
    private var held: [ByteBuffer] = []
    private var heldBytes = 0
    private var mode = Mode.holding
    private var written: UInt64 = 0
    private var finished = false
    private var modificationTime: Timestamp?

    private enum Mode {
        case holding
        case single(Upload)
        case segments(current: Upload?, bytes: UInt64, next: Int, pending: [Task<SwiftAccount.Reply, any Error>])
    }

    private struct Upload {
        let channel: BodyChannel
        let task: Task<SwiftAccount.Reply, any Error>
    }

    /// What an image of unknown size may hold in memory before it is written as segments.
    static let bufferLimit = 32 << 20
    /// Bytes waiting between this writer and the socket, per upload.
    static let queued = 8 << 20
    /// Segments whose answer is awaited while the next is sent.
    static let segmentsAwaited = 2

    init(store: SwiftStore, container: String, name: String, sizeHint: UInt64?) {
        self.store = store
        self.container = container
        self.name = name
        self.sizeHint = sizeHint
    }

    private var objectPath: String { SwiftAccount.objectPath(container, name) }

    func write(_ bytes: [UInt8]) async throws(StoreError) {
        guard !finished else { throw .backend("write after the image was published or aborted") }
        guard !bytes.isEmpty else { return }
        let buffer = ByteBuffer(bytes: bytes)
        written += UInt64(bytes.count)
        switch mode {
        case .holding:
            if let hint = sizeHint, hint < store.settings.largeObjectSize {
                mode = .single(startUpload(objectPath, headers: finalHeaders(), length: Int(hint)))
                try await send(buffer)
            } else if heldBytes + bytes.count <= Self.bufferLimit, written < store.settings.largeObjectSize {
                held.append(buffer)
                heldBytes += bytes.count
            } else {
                try await removeSegments()  // a write cut short earlier must not join this image
                mode = .segments(current: nil, bytes: 0, next: 1, pending: [])
                let earlier = held
                held = []
                heldBytes = 0
                for piece in earlier { try await send(piece) }
                try await send(buffer)
            }
        default:
            try await send(buffer)
        }
    }

    private func send(_ buffer: ByteBuffer) async throws(StoreError) {
        switch mode {
        case .holding: return
        case .single(let upload):
            try await deliver(buffer, upload)
        case .segments:
            var rest = buffer
            let chunk = store.settings.largeObjectChunkSize
            while rest.readableBytes > 0 {
                guard case .segments(var current, var bytes, var next, var pending) = mode else { return }
                if current == nil {
                    current = startUpload(SwiftAccount.objectPath(container, Self.segmentName(name, next)), headers: [])
                    next += 1
                    bytes = 0
                }
                let piece = rest.readSlice(length: Int(min(UInt64(rest.readableBytes), chunk - bytes)))!
                bytes += UInt64(piece.readableBytes)
                mode = .segments(current: current, bytes: bytes, next: next, pending: pending)
                try await deliver(piece, current!)
                if bytes == chunk {
                    current!.channel.finish()
                    pending.append(current!.task)
                    mode = .segments(current: nil, bytes: 0, next: next, pending: pending)
                    try await awaitSegments(keeping: Self.segmentsAwaited)
                }
            }
        }
    }

    /// Into the upload's body; when the request is over already, its own error says why.
    private func deliver(_ buffer: ByteBuffer, _ upload: Upload) async throws(StoreError) {
        do { try await upload.channel.send(buffer) } catch {
            let reply = try await Self.result(upload.task, "writing \(name)")
            // Refused before the body (a token that expired on the way, a full account...): the
            // data sent is gone, so the write fails with Swift's reason.
            throw SwiftStore.error(reply, "writing \(name)")
        }
    }

    private func startUpload(_ path: String, headers: [(String, String)], length: Int? = nil) -> Upload {
        let channel = BodyChannel(limit: Self.queued)
        let account = store.account
        return Upload(channel: channel, task: Task { try await account.upload(path, headers: headers, body: channel, length: length) })
    }

    /// Waits for segments until at most `keeping` are unanswered; a failed one fails the write.
    private func awaitSegments(keeping: Int) async throws(StoreError) {
        while case .segments(let current, let bytes, let next, var pending) = mode, pending.count > keeping {
            let task = pending.removeFirst()
            mode = .segments(current: current, bytes: bytes, next: next, pending: pending)
            let reply = try await Self.result(task, "writing a segment of \(name)")
            guard reply.status == 201 else { throw SwiftStore.error(reply, "writing a segment of \(name)") }
        }
    }

    private static func result(_ task: Task<SwiftAccount.Reply, any Error>, _ what: String) async throws(StoreError) -> SwiftAccount.Reply {
        do { return try await task.value } catch { throw HTTPClients.map(error, what: what) }
    }

    static func segmentName(_ name: String, _ index: Int) -> String {
        let digits = String(index)
        return name + "-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }

    private func finalHeaders() -> [(String, String)] {
        guard let modificationTime else { return [("Content-Type", "application/octet-stream"), ("If-None-Match", "*")] }
        // As setModificationTime would set it, without the HEAD and POST after the PUT.
        return [("Content-Type", SwiftListing.contentType(nil, settingMtime: modificationTime)),
                ("X-Object-Meta-Mtime", SwiftListing.format(modificationTime)), ("If-None-Match", "*")]
    }

    /// Taken until the PUT of the final name has started (a single upload starts at the first write).
    func publishWith(modificationTime time: Timestamp) async -> Bool {
        if finished { return false }
        if case .single = mode { return false }
        modificationTime = time
        return true
    }

    func publish() async throws(StoreError) -> ImageAddResult {
        guard !finished else { throw .backend("publish after the image was published or aborted") }
        finished = true
        do {
            try await complete()
        } catch {
            await discard()
            throw error
        }
        store.forget(name)
        return ImageAddResult(location: store.location(of: name), size: written, checksum: nil,
                              multihash: nil, metadata: ["store": store.id])
    }

    /// The last bytes sent and every answer in; the manifest of a segmented image written last.
    private func complete() async throws(StoreError) {
        switch mode {
        case .holding:
            var body = ByteBuffer()
            body.reserveCapacity(heldBytes)
            for var piece in held { body.writeBuffer(&piece) }
            held = []
            try check(try await store.account.request(.PUT, objectPath, headers: finalHeaders(), body: body))
        case .single(let upload):
            upload.channel.finish()
            try check(try await Self.result(upload.task, "writing \(name)"))
        case .segments(let current, _, let next, var pending):
            if let current {
                current.channel.finish()
                pending.append(current.task)
            }
            mode = .segments(current: nil, bytes: 0, next: next, pending: pending)
            try await awaitSegments(keeping: 0)
            var headers = finalHeaders()
            headers.append(("X-Object-Manifest", SwiftAccount.encode(container) + "/" + SwiftAccount.encode(name + "-")))
            try check(try await store.account.request(.PUT, objectPath, headers: headers))
        }
    }

    private func check(_ reply: SwiftAccount.Reply) throws(StoreError) {
        if reply.status == 412 { throw .duplicate(image: name) }
        guard reply.status == 201 else { throw SwiftStore.error(reply, "writing \(name)") }
    }

    func abort() async {
        guard !finished else { return }
        finished = true
        await discard()
    }

    /// Stops the uploads (a PUT cut short creates nothing) and removes the segments written.
    private func discard() async {
        held = []
        switch mode {
        case .holding: return
        case .single(let upload):
            upload.channel.close()
            _ = await upload.task.result
        case .segments(let current, _, _, let pending):
            current?.channel.close()
            if let current { _ = await current.task.result }
            for task in pending { _ = await task.result }
            do { try await removeSegments() } catch {
                // A proxy that went away takes them back when it answers again.
                if store.account.health.retryWhenUp("removing the segments of the aborted image \(name)", after: error, { [self] () throws(StoreError) in
                    try await removeSegments()
                }) { return }
                store.logger.warning("cannot remove the segments of an aborted image; they stay hidden, remove them with the swift CLI",
                                     metadata: ["store": "\(store.id)", "image": "\(name)", "error": "\(error)"])
            }
        }
    }

    /// Every `<name>-NNNNN` of the container.
    private func removeSegments() async throws(StoreError) {
        try await store.deleteObjects(container, try await store.segments(container, prefix: name + "-", of: container))
    }
}
