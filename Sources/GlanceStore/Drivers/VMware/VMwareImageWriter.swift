import NIOCore
import StoreFormats

/// One image being written to a vmware store: one PUT streamed as the data comes, to a temporary
/// name in the image directory (`.storefs-partial.<random>.<id>`), then MoveDatastoreFile_Task to
/// `<id>` without force: an image that appeared meanwhile is a duplicate, never overwritten (the
/// datastore's PUT would overwrite it: nothing is ever PUT to a final name). An abort removes the
/// partial file; a kill leaves it to the next start (`cleanLeftovers`).
actor VMwareImageWriter: ImageWriter {
    nonisolated let name: String
    private let store: VMwareStore
    private let datastore: VMwareDatastore
    private let partial: String
    private let sizeHint: UInt64?
    private let channel: BodyChannel
    private let upload: Task<Int, any Error>
    private let watchdog: Task<Void, Never>
    private var written: UInt64 = 0
    private var finished = false

    /// Bytes waiting between this writer and the socket.
    static let queued = 8 << 20

    init(store: VMwareStore, datastore: VMwareDatastore, name: String, sizeHint: UInt64?) {
        self.store = store
        self.datastore = datastore
        self.name = name
        self.sizeHint = sizeHint
        partial = ImageDirectoryNames.partial(for: name)
        // vCenter taking no data for the store's timeout while the writer has some: the upload fails
        // then (a hung vCenter would otherwise hold `cp` until TCP gives up, hours later).
        let channel = BodyChannel(limit: Self.queued)
        self.channel = channel
        let session = store.session, url = store.session.fileURL(datastore, store.relative(partial))
        let upload = Task { try await session.upload(url, body: channel, length: sizeHint) }
        self.upload = upload
        watchdog = Self.watch(channel, upload, timeout: .milliseconds(Int64(store.settings.timeout * 1000)), health: session.health)
    }

    /// A vCenter that stops taking the body (hung, or gone without a reset) fails the upload after
    /// the store's timeout: the body is closed and the request cancelled, where TCP alone would hold
    /// `cp` for hours. A writer that is only slow to produce is never timed (the client then waits
    /// for more, which is not idle).
    private static func watch(_ channel: BodyChannel, _ upload: Task<Int, any Error>, timeout: Duration,
                              health: BackendHealth) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: timeout / 4)
                if Task.isCancelled { return }
                if channel.idle(for: timeout) {
                    let failure = StoreError.timedOut("vCenter took no data of an upload for \(timeout)")
                    health.record(failure)
                    channel.close(failure)
                    upload.cancel()
                    return
                }
            }
        }
    }

    func write(_ bytes: [UInt8]) async throws(StoreError) {
        guard !finished else { throw .backend("write after the image was published or aborted") }
        guard !bytes.isEmpty else { return }
        if let sizeHint, written + UInt64(bytes.count) > sizeHint {
            throw .backend("\(name): more data than the \(sizeHint) bytes announced")
        }
        written += UInt64(bytes.count)
        do { try await channel.send(ByteBuffer(bytes: bytes)) } catch let failure as StoreError {
            throw failure  // the watchdog's: vCenter stopped taking the data
        } catch {
            // The upload is over before its end: its own error says why.
            let status = try await result()
            throw .remoteServiceUnavailable("writing \(name): the datastore answered HTTP \(status) before the end")
        }
    }

    private func result() async throws(StoreError) -> Int {
        defer { watchdog.cancel() }
        do { return try await upload.value } catch {
            if upload.isCancelled { throw .timedOut("writing \(name): vCenter took no data for \(store.settings.timeout) s") }
            throw VSphereSession.map(error, what: "writing \(name)")
        }
    }

    func publish() async throws(StoreError) -> ImageAddResult {
        guard !finished else { throw .backend("publish after the image was published or aborted") }
        finished = true
        if let sizeHint, written != sizeHint {
            await discard()
            throw .backend("\(name): \(written) bytes written of the \(sizeHint) announced")
        }
        channel.finish()
        do throws(StoreError) {
            let status = try await result()
            guard status == 200 || status == 201 else {
                throw .remoteServiceUnavailable("writing \(name) to \(datastore.path(store.relative(partial))): HTTP \(status)")
            }
            if case .failure(let fault) = try await store.move(partial, to: name, on: datastore, force: false) {
                throw VSphereFaults.error(fault, "moving the upload of \(name) to its name", image: name)
            }
        } catch {
            await discard()
            throw error
        }
        store.placed(name, on: datastore)
        return ImageAddResult(location: store.location(of: name), size: written, checksum: nil, multihash: nil,
                              metadata: ["store": store.id])
    }

    func abort() async {
        guard !finished else { return }
        finished = true
        await discard()
    }

    /// Stops the upload and removes the partial file (the simulator keeps what arrived; vCenter may
    /// keep nothing: either way nothing stays).
    private func discard() async {
        channel.close()
        _ = await upload.result
        watchdog.cancel()
        let store = self.store, datastore = self.datastore, partial = self.partial
        let removal: @Sendable () async throws(StoreError) -> Void = { () throws(StoreError) in
            if case .failure(let fault) = try await store.remove(partial, on: datastore), fault.type != "FileNotFound" {
                throw VSphereFaults.error(fault, "removing \(partial)")
            }
        }
        do { try await removal() } catch {
            if store.session.health.retryWhenUp("removing the partial upload \(partial)", after: error, removal) { return }
            store.logger.warning("cannot remove the partial file of an aborted upload; it is removed at a later start",
                                 metadata: ["store": "\(store.id)", "file": "\(datastore.path(store.relative(partial)))", "error": "\(error)"])
        }
    }
}
