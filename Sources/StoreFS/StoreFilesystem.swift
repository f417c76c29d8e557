import Foundation
import Glibc
import GlanceStore
import Logging
import Synchronization

/// The file system, without FUSE: a tree of store directories holding images, answering in terms of
/// inode numbers, handles and errno. The FUSE adapter only translates requests and replies, so this
/// type is what the tests drive directly, and everything it knows of a backend comes through `Store`.
///
/// Locks: `InodeTable` and `HandleTable` each own one mutex, never held across an await or while
/// taking the other; a `WriteSession` actor serialises one open image.
public final class StoreFilesystem: Sendable {
    public let stores: [MountedStore]
    public let options: MountOptions
    let inodes: InodeTable
    let handles = HandleTable()
    let staging: StagingArea?
    let logger: Logger
    /// Tells the kernel to drop cached pages of an inode (set by the FUSE adapter).
    let invalidator = Mutex<(@Sendable (UInt64) -> Void)?>(nil)
    let mountTime = Timestamp.now
    /// Hashes computed on request (`user.glance.checksum` of an image whose store kept none).
    let digestCache = DigestCache()

    /// Directories never change by themselves; images are trusted for `cacheTimeout`.
    public static let directoryTimeout: Double = 3600

    /// Glance's catalogue, for `user.glance.image.*`; nil when the configuration cannot reach it.
    let catalogue: ImageCatalogue?
    /// What each store's requests, bytes and images count into (by store index).
    let meters: [StoreMeters]

    /// How long a closed temporary file of rsync waits for its rename before it is published as
    /// is, and how much of one is held on local disk before it streams (see `WriteSession`).
    let renameWait: Duration
    let holdLimit: UInt64

    public convenience init(stores: [MountedStore], staging: StagingArea?, options: MountOptions, logger: Logger,
                            catalogue: ImageCatalogue? = nil) {
        self.init(stores: stores, staging: staging, options: options, logger: logger, catalogue: catalogue,
                  renameWait: .seconds(30), holdLimit: 256 << 20)
    }

    init(stores: [MountedStore], staging: StagingArea?, options: MountOptions, logger: Logger,
         catalogue: ImageCatalogue?, renameWait: Duration, holdLimit: UInt64) {
        self.renameWait = renameWait
        self.holdLimit = holdLimit
        self.catalogue = catalogue
        self.stores = stores
        meters = stores.map { StoreMeters.of($0.store.id) }
        self.options = options
        self.staging = staging
        self.logger = logger
        inodes = InodeTable(storeCount: stores.count)
    }

    public func onInvalidate(_ body: @escaping @Sendable (UInt64) -> Void) { invalidator.withLock { $0 = body } }

    public func isWritable(_ index: Int) -> Bool { !options.readOnly && stores[index].store.isWritable }

    // MARK: Attributes

    func directoryAttributes(_ ino: UInt64, writable: Bool) -> FileAttributes {
        FileAttributes(ino: ino, isDirectory: true, permissions: writable ? 0o755 : 0o555, size: 0,
                       modificationTime: mountTime, uid: options.uid, gid: options.gid)
    }

    func imageAttributes(_ ino: UInt64, store: Int, size: UInt64, modificationTime: Timestamp) -> FileAttributes {
        FileAttributes(ino: ino, isDirectory: false, permissions: isWritable(store) ? 0o644 : 0o444, size: size,
                       modificationTime: modificationTime, uid: options.uid, gid: options.gid)
    }

    func node(_ ino: UInt64) throws(FSError) -> Node {
        guard let node = inodes.node(ino) else { throw .notFound }
        return node
    }

    func storeIndex(ofDirectory ino: UInt64) throws(FSError) -> Int {
        switch try node(ino) {
        case .store(let index): return index
        case .root: throw .notPermitted
        case .image: throw FSError(ENOTDIR)
        }
    }

    public func getattr(_ ino: UInt64) async throws(FSError) -> FileAttributes {
        switch try node(ino) {
        case .root: return directoryAttributes(ino, writable: false)
        case .store(let index): return directoryAttributes(ino, writable: isWritable(index))
        case .image(let index, let name):
            if let session = handles.session(ino: ino), let pending = await session.pendingAttributes {
                return imageAttributes(ino, store: index, size: pending.size, modificationTime: pending.modificationTime)
            }
            let info = try await storeCall(meters[index], "stat") { () async throws(StoreError) in try await stores[index].store.stat(name) }
            return imageAttributes(ino, store: index, size: info.size, modificationTime: info.modificationTime)
        }
    }

    public func lookup(parent: UInt64, name: String) async throws(FSError) -> EntryReply {
        switch try node(parent) {
        case .root:
            // Only enabled stores; a reserved store id (os_glance_*) is simply not there.
            guard let index = stores.firstIndex(where: { $0.store.id == name }) else { throw .notFound }
            let ino = inodes.storeIno(index)
            return EntryReply(attributes: directoryAttributes(ino, writable: isWritable(index)),
                              entryTimeout: Self.directoryTimeout, attributeTimeout: Self.directoryTimeout)
        case .store(let index):
            guard (try? ImageName.validate(name)) != nil else { throw .notFound }
            // rsync's temporary file, closed and not yet published: there for rsync's utimens and rename.
            // The name is checked first: every lookup of a listing comes through here.
            if WriteSession.isTemporaryOfRsync(name), let session = handles.session(store: index, name: name), session.awaitsName,
               let pending = await session.pendingAttributes {
                let ino = inodes.ino(store: index, name: name)
                return EntryReply(attributes: imageAttributes(ino, store: index, size: pending.size, modificationTime: pending.modificationTime),
                                  entryTimeout: 0, attributeTimeout: 0)
            }
            let info = try await storeCall(meters[index], "stat") { () async throws(StoreError) in try await stores[index].store.stat(name) }
            let ino = inodes.ino(store: index, name: name)
            return EntryReply(attributes: imageAttributes(ino, store: index, size: info.size, modificationTime: info.modificationTime),
                              entryTimeout: options.cacheTimeout, attributeTimeout: options.cacheTimeout)
        case .image:
            throw FSError(ENOTDIR)
        }
    }

    // MARK: Directories

    public func opendir(_ ino: UInt64) async throws(FSError) -> UInt64 {
        var entries: [DirectoryEntry]
        switch try node(ino) {
        case .root:
            entries = [DirectoryEntry(name: ".", attributes: directoryAttributes(ino, writable: false)),
                       DirectoryEntry(name: "..", attributes: directoryAttributes(ino, writable: false))]
            for (index, _) in stores.enumerated() {
                let storeIno = inodes.storeIno(index)
                entries.append(DirectoryEntry(name: stores[index].store.id,
                                              attributes: directoryAttributes(storeIno, writable: isWritable(index))))
            }
        case .store(let index):
            let images = try await storeCall(meters[index], "list") { () async throws(StoreError) in try await stores[index].store.list() }
            entries = [DirectoryEntry(name: ".", attributes: directoryAttributes(ino, writable: isWritable(index))),
                       DirectoryEntry(name: "..", attributes: directoryAttributes(InodeTable.root, writable: false))]
            entries.reserveCapacity(images.count + 2)
            for image in images {
                if let problem = ImageName.problem(image.name) {
                    LeftOutNames.report(store: stores[index].store.id, name: image.name, reason: problem, logger: logger)
                    continue
                }
                let imageIno = inodes.ino(store: index, name: image.name)
                entries.append(DirectoryEntry(name: image.name, attributes: imageAttributes(
                    imageIno, store: index, size: image.size, modificationTime: image.modificationTime)))
            }
        case .image:
            throw FSError(ENOTDIR)
        }
        return handles.add(.directory(entries))
    }

    /// Entries from `offset` (an index into the listing taken at opendir).
    public func readdir(_ fh: UInt64, offset: Int) throws(FSError) -> ArraySlice<DirectoryEntry> {
        guard case .directory(let entries)? = handles[fh] else { throw FSError(EBADF) }
        return entries[min(offset, entries.count)...]
    }

    public func releasedir(_ fh: UInt64) { _ = handles.remove(fh) }

    public var entryTimeout: Double { options.cacheTimeout }

    // MARK: Files

    public func open(_ ino: UInt64, flags: Int32) async throws(FSError) -> OpenReply {
        guard case .image(let index, let name) = try node(ino) else { throw FSError(EISDIR) }
        let store = stores[index].store
        if flags & O_ACCMODE == O_RDONLY {
            // An image being edited through this mount reads as edited (qemu-img reopens what it writes).
            if let session = handles.session(ino: ino), await session.isStaged {
                return OpenReply(handle: handles.add(.writer(session, ino: ino)), keepCache: false, directIO: true)
            }
            let reader = try await storeCall(meters[index], "open") { () async throws(StoreError) in try await store.openForReading(name) }
            return OpenReply(handle: handles.add(.reader(reader, store: index)), keepCache: true)
        }
        guard isWritable(index) else { throw .readOnly }
        if let session = handles.session(ino: ino) {
            return OpenReply(handle: handles.add(.writer(session, ino: ino)), keepCache: false, directIO: true)
        }
        let staging = try requireStaging()
        let session: WriteSession
        if flags & O_TRUNC != 0 {
            session = try await WriteSession.stream(store: store, storeIndex: index, name: name, replacing: true,
                                                    staging: staging, logger: logger)
        } else {
            session = try await WriteSession.edit(store: store, storeIndex: index, name: name, staging: staging, logger: logger)
        }
        return OpenReply(handle: handles.add(.writer(session, ino: ino)), keepCache: false, directIO: true)
    }

    public func create(parent: UInt64, name: String, flags: Int32) async throws(FSError) -> (EntryReply, OpenReply) {
        let index = try storeIndex(ofDirectory: parent)
        guard isWritable(index) else { throw .readOnly }
        do throws(StoreError) { try ImageName.validate(name) } catch { throw FSError(error) }
        let store = stores[index].store
        // rsync's temporary file where it is only published at the rename: the kernel looked the
        // random name up just before, and nothing goes to the store under it.
        let awaitsName = store.capabilities.isCapable(of: .publishOnRename) && WriteSession.isTemporaryOfRsync(name)
        var exists = false
        if !awaitsName {
            do throws(StoreError) { _ = try await store.stat(name); exists = true } catch {
                guard case .notFound = error else { throw FSError(error) }
            }
        }
        if handles.session(store: index, name: name) != nil { throw FSError(EEXIST) }
        if exists {
            if flags & O_EXCL != 0 { throw FSError(EEXIST) }
            let ino = inodes.ino(store: index, name: name)
            let opened = try await open(ino, flags: flags)
            return (try await lookup(parent: parent, name: name), opened)
        }
        let session: WriteSession
        if awaitsName {
            // rsync opens it read-write (mkstemp) and writes it in order.
            session = try WriteSession.awaitingName(store: store, storeIndex: index, name: name, holdLimit: holdLimit,
                                                   staging: try requireStaging(), logger: logger)
        } else if flags & O_ACCMODE == O_RDWR {
            session = try WriteSession.scratch(store: store, storeIndex: index, name: name, staging: try requireStaging(), logger: logger)
        } else {
            session = try await WriteSession.stream(store: store, storeIndex: index, name: name, replacing: false,
                                                    staging: try requireStaging(), logger: logger)
        }
        let ino = inodes.ino(store: index, name: name)
        let fh = handles.add(.writer(session, ino: ino))
        // Not visible to anyone else until published: the kernel must ask again.
        let entry = EntryReply(attributes: imageAttributes(ino, store: index, size: 0, modificationTime: .now),
                               entryTimeout: 0, attributeTimeout: 0)
        return (entry, OpenReply(handle: fh, keepCache: false, directIO: true))
    }

    private func requireStaging() throws(FSError) -> StagingArea {
        guard let staging else { throw .readOnly }
        return staging
    }

    public func read(_ fh: UInt64, offset: UInt64, count: Int) async throws(FSError) -> ReadReply {
        if let reply = fileRead(fh, offset: offset, count: count) { return reply }
        switch handles[fh] {
        case .reader(let reader as BufferedImageReader, let index)?:
            let bytes = try await storeCall(meters[index], "read") { () async throws(StoreError) in try await reader.readBuffers(at: offset, count: count) }
            meters[index].bytesRead.increment(by: Int64(bytes.count))
            return .buffers(bytes)
        case .reader(let reader, let index)?:
            let bytes = try await storeCall(meters[index], "read") { () async throws(StoreError) in try await reader.read(at: offset, count: count) }
            meters[index].bytesRead.increment(by: Int64(bytes.count))
            return .bytes(bytes)
        case .writer(let session, _)?:
            return .bytes(try await session.read(at: offset, count: count))
        default:
            throw FSError(EBADF)
        }
    }

    /// The synchronous part of a read: a file-backed image answered straight from its descriptor.
    public func fileRead(_ fh: UInt64, offset: UInt64, count: Int) -> ReadReply? {
        guard case .reader(let reader, let index)? = handles[fh], let file = reader as? FileBackedImageReader else { return nil }
        guard offset < reader.size else { return .bytes([]) }
        let count = Int(min(UInt64(count), reader.size - offset))
        meters[index].bytesRead.increment(by: Int64(count))
        return .file(descriptor: file.fileDescriptor, offset: offset, count: count)
    }

    /// The descriptor of a local image a read handle reads (a file store's), for FUSE passthrough.
    public func localDescriptor(_ fh: UInt64) -> Int32? {
        guard case .reader(let reader, _)? = handles[fh], let file = reader as? FileBackedImageReader else { return nil }
        return file.fileDescriptor
    }

    public func write(_ fh: UInt64, offset: UInt64, bytes: [UInt8], owner: UInt64 = 0) async throws(FSError) -> Int {
        guard case .writer(let session, _)? = handles[fh] else { throw FSError(EBADF) }
        try await session.write(bytes, at: offset, owner: owner)
        meters[session.storeIndex].bytesWritten.increment(by: Int64(bytes.count))
        return bytes.count
    }

    /// close(2) of one descriptor: a written image is published now, so the name is there when
    /// close returns (rsync renames right after). A close by another process holding a copy of the
    /// descriptor (a child after fork, closing it at exec) publishes nothing: the writer is not done.
    public func flush(_ fh: UInt64, owner: UInt64 = 0) async throws(FSError) {
        guard case .writer(let session, let ino)? = handles[fh] else { return }
        // Nothing written yet (dd opens, dup2s and closes the first descriptor) or another process's
        // copy: the image is published by the writer's own close, or at release / rename.
        guard await session.closeShouldPublish(owner: owner) else { return }
        let replaced = await session.exists
        try await session.publish()
        if replaced { invalidate(ino) }
    }

    public func release(_ fh: UInt64) async {
        guard let (handle, removal) = handles.remove(fh) else { return }
        switch (handle, removal) {
        case (.reader(let reader, _), _): await reader.close()
        case (.writer(let session, let ino), .parked(let parking)):
            awaitRename(session, ino: ino, parking: parking)
        case (.writer(let session, let ino), .lastOfSession):
            await publishAsClosed(session)
            invalidate(ino)
        default: break
        }
    }

    /// A parked session not renamed in time is not rsync's after all (or rsync died): published
    /// under its own name, as any closed file.
    private func awaitRename(_ session: WriteSession, ino: UInt64, parking: UInt64) {
        Task {
            try? await Task.sleep(for: renameWait)
            guard handles.unpark(ino: ino, parking: parking) != nil else { return }
            await publishAsClosed(session)
            invalidate(ino)
        }
    }

    private func publishAsClosed(_ session: WriteSession) async {
        do throws(FSError) { try await session.release() } catch {
            logger.error("image not published at close", metadata: [
                "store": "\(session.store.id)", "image": "\(session.name)", "error": "\(error)"])
        }
    }

    /// The mount is going away with files still open (SIGTERM, SIGINT): images being written are
    /// abandoned — nothing is published, and what their writers sent to the store is removed — and
    /// readers are closed. Returns the names of the abandoned images.
    public func shutdown() async -> [String] {
        let (readers, sessions, parked) = handles.removeAll()
        for reader in readers { await reader.close() }
        // Closed by their writer, only the rename had not come: published as closed, not abandoned.
        for session in parked { await publishAsClosed(session) }
        var abandoned: [String] = []
        for session in sessions where await session.abandon() {
            abandoned.append("\(session.store.id)/\(session.name)")
        }
        return abandoned
    }

    func invalidate(_ ino: UInt64) {
        if let body = invalidator.withLock({ $0 }) { body(ino) }
    }

    // MARK: Changing the tree

    public func setattr(_ ino: UInt64, change: AttributeChange) async throws(FSError) -> FileAttributes {
        switch try node(ino) {
        case .root:
            if change.size != nil { throw FSError(EISDIR) }
            if change.modificationTime != nil || change.ownershipOrMode { throw .notPermitted }
            return try await getattr(ino)
        case .store(let index):
            if change.size != nil { throw FSError(EISDIR) }
            // A store's time is not kept, but `rsync -a /backup/ mnt/ceph/` sets it last, and failing
            // it made rsync exit 23 after copying every image; on a writable store it is ignored.
            if change.ownershipOrMode || (change.modificationTime != nil && !isWritable(index)) { throw .notPermitted }
            return try await getattr(ino)
        case .image(let index, let name):
            guard isWritable(index) else { throw .readOnly }
            let store = stores[index].store
            let session = handles.session(ino: ino)
            if let size = change.size {
                if let session {
                    try await session.truncate(to: size)
                } else {
                    let info = try await storeCall(meters[index], "stat") { () async throws(StoreError) in try await store.stat(name) }
                    if info.size != size {
                        logger.warning("images are immutable: truncate refused; write a new image instead",
                                       metadata: ["store": "\(store.id)", "image": "\(name)"])
                        throw .notPermitted
                    }
                }
            }
            if let date = change.modificationTime {
                if let session {
                    try await session.setModificationTime(date)
                } else {
                    guard store.capabilities.isCapable(of: .setModificationTime) else { throw .notPermitted }
                    try await storeCall(meters[index], "set_mtime") { () async throws(StoreError) in try await store.setModificationTime(name, to: date) }
                }
            }
            return try await getattr(ino)
        }
    }

    public func unlink(parent: UInt64, name: String) async throws(FSError) {
        let index = try storeIndex(ofDirectory: parent)
        guard isWritable(index) else { throw .readOnly }
        if let ino = inodes.existingIno(store: index, name: name), let session = handles.unpark(ino: ino) {
            await session.discard()  // rsync's temporary file, never published: nothing in the store
            inodes.remove(store: index, name: name)
            return
        }
        try await storeCall(meters[index], "delete") { () async throws(StoreError) in try await stores[index].store.delete(name) }
        if let ino = inodes.existingIno(store: index, name: name) { invalidate(ino) }
        inodes.remove(store: index, name: name)
    }

    public func rename(parent: UInt64, name: String, newParent: UInt64, newName: String, flags: UInt32) async throws(FSError) {
        let from = try storeIndex(ofDirectory: parent)
        let to = try storeIndex(ofDirectory: newParent)
        // Stores are separate file systems: mv copies, then unlinks.
        guard from == to else { throw .crossDevice }
        guard isWritable(from) else { throw .readOnly }
        let store = stores[from].store
        guard store.capabilities.isCapable(of: .rename) else { throw .crossDevice }
        if flags & Self.renameExchange != 0 { throw FSError(EINVAL) }
        let replacing = flags & Self.renameNoReplace == 0
        if let ino = inodes.existingIno(store: from, name: name), let session = handles.unpark(ino: ino) {
            // rsync's temporary file: published once, under its final name.
            do throws(FSError) { try await session.publishRenamed(to: newName, replacing: replacing) } catch {
                awaitRename(session, ino: ino, parking: handles.repark(session, ino: ino))
                throw error
            }
            if let stale = inodes.rename(store: from, from: name, to: newName) { invalidate(stale) }
            return
        }
        if let ino = inodes.existingIno(store: from, name: name), let session = handles.session(ino: ino), await !session.exists {
            try await session.publish()  // still open, or closed without a write (rsync's temp file of an empty image)
        }
        try await storeCall(meters[from], "rename") { () async throws(StoreError) in try await store.rename(name, to: newName, replacing: replacing) }
        if let stale = inodes.rename(store: from, from: name, to: newName) { invalidate(stale) }
    }

    /// renameat2 flags (linux/fs.h, which Glibc does not bring).
    static let renameNoReplace: UInt32 = 1
    static let renameExchange: UInt32 = 2

    public func refuseDirectoryChange(_ what: String, parent: UInt64, name: String) -> FSError {
        logger.notice("stores are flat: \(what) refused", metadata: ["name": "\(name)"])
        if case .store(let index)? = inodes.node(parent), !isWritable(index) { return .readOnly }
        return .notPermitted
    }

    public func statfs(_ ino: UInt64) async throws(FSError) -> FilesystemCapacity {
        let index: Int
        switch inodes.node(ino) {
        case .store(let i)?, .image(let i, _)?: index = i
        default: index = stores.firstIndex(where: \.isDefault) ?? 0
        }
        guard index < stores.count, stores[index].store.capabilities.isCapable(of: .capacity) else {
            return FilesystemCapacity(totalBytes: 0, availableBytes: 0)
        }
        let capacity = try await storeCall(meters[index], "capacity") { () async throws(StoreError) in try await stores[index].store.capacity() }
        return FilesystemCapacity(totalBytes: capacity.totalBytes, availableBytes: isWritable(index) ? capacity.availableBytes : 0)
    }
}
