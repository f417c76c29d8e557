import Foundation
import Glibc
import GlanceStore
import Logging
import Synchronization

/// One image open for writing through the mount. Sequential writes stream straight to the store's
/// writer (no copy on local disk); the image is published under its name when the file is closed
/// (FLUSH, which close(2) waits for). Writes a stream cannot take — going back, rewriting an existing
/// image, or writing again after a close published it — move the session to a staging file, which
/// is published in full at the next close. Before a publish nothing is visible under the name;
/// replacing an image publishes under a temporary name and renames over it, so readers see the old
/// or the new image, never a mix.
///
/// rsync's temporary file in a store whose publish and rename cost round trips (`.publishOnRename`)
/// is staged and not published at close: rsync sets its time and renames it right after, and the
/// rename publishes it once, under the final name, with that time ("awaiting a name"). One too big
/// to hold (`holdLimit`) is streamed under its own name as any other file.
actor WriteSession {
    let store: any Store
    let storeIndex: Int
    let name: String
    private let staging: StagingArea
    private let logger: Logger
    private let meters: StoreMeters

    private enum Mode {
        /// `position`: bytes handed to the writer; `target`: the name it will be published as.
        case streaming(any ImageWriter, position: UInt64)
        /// A staging file holding the whole image; `dirty` when it differs from what is published.
        case staged(fd: Int32, dirty: Bool)
        /// The stream was published; nothing is held.
        case published
        case failed(Int32)
    }

    private var mode: Mode
    /// The logical size (writes and truncates so far).
    private(set) var size: UInt64
    /// An image is visible under `name` (it existed before, or a close published it).
    private(set) var exists: Bool
    private var requestedMtime: Timestamp?
    private(set) var lastWrite = Timestamp.now
    /// The lock owner (file table) of the process that wrote first.
    private(set) var writerOwner: UInt64?

    /// Set by ftruncate and futimens: the file was given a content or a time even without a write.
    private var touched = false

    /// Staged until a rename names it (rsync's temporary file); read without the actor by the
    /// handle table, which keeps such a session after its last close.
    private let awaiting: Atomic<Bool>
    nonisolated var awaitsName: Bool { awaiting.load(ordering: .acquiring) }

    /// What a session awaiting a name holds on local disk before it streams under its own name.
    private let holdLimit: UInt64

    /// rsync's temporary names: `.` + the file's name + `.` + six letters or digits (mkstemp).
    static func isTemporaryOfRsync(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count >= 9, bytes[0] == UInt8(ascii: "."), bytes[bytes.count - 7] == UInt8(ascii: ".") else { return false }
        return bytes.suffix(6).allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
    }

    /// Whether a close(2) with this lock owner finishes the image. A close by another process
    /// holding a copy of the descriptor does not; nor does closing a descriptor before anything was
    /// written (dd opens, dup2s, then closes the first one): release or a rename publishes those.
    func closeShouldPublish(owner: UInt64) -> Bool {
        if awaitsName { return false }
        if let writer = writerOwner { return owner == 0 || owner == writer }
        return touched || isStaged
    }

    var isStaged: Bool {
        if case .staged = mode { return true }
        return false
    }

    private init(store: any Store, storeIndex: Int, name: String, staging: StagingArea, logger: Logger,
                 mode: Mode, size: UInt64, exists: Bool, awaitsName: Bool = false, holdLimit: UInt64 = 0) {
        awaiting = Atomic(awaitsName)
        self.holdLimit = holdLimit
        self.store = store
        meters = StoreMeters.of(store.id)
        self.storeIndex = storeIndex
        self.name = name
        self.staging = staging
        self.logger = logger
        self.mode = mode
        self.size = size
        self.exists = exists
    }

    deinit {
        if case .staged(let fd, _) = mode { Glibc.close(fd) }
    }

    /// A new image, or one that replaces `name` (O_TRUNC on an existing image): a stream.
    static func stream(store: any Store, storeIndex: Int, name: String, replacing: Bool,
                       staging: StagingArea, logger: Logger) async throws(FSError) -> WriteSession {
        let writer = try await beginWriter(store: store, name: name, replacing: replacing)
        return WriteSession(store: store, storeIndex: storeIndex, name: name, staging: staging, logger: logger,
                            mode: .streaming(writer, position: 0), size: 0, exists: replacing)
    }

    /// A new image opened read-write (qemu-img and other tools that seek and read back): staged
    /// from the start, published whole at close.
    static func scratch(store: any Store, storeIndex: Int, name: String,
                        staging: StagingArea, logger: Logger) throws(FSError) -> WriteSession {
        let fd = try staging.makeFile()
        return WriteSession(store: store, storeIndex: storeIndex, name: name, staging: staging, logger: logger,
                            mode: .staged(fd: fd, dirty: true), size: 0, exists: false)
    }

    /// rsync's new temporary file: staged until rsync renames it (see the type's comment).
    static func awaitingName(store: any Store, storeIndex: Int, name: String, holdLimit: UInt64,
                             staging: StagingArea, logger: Logger) throws(FSError) -> WriteSession {
        let fd = try staging.makeFile()
        return WriteSession(store: store, storeIndex: storeIndex, name: name, staging: staging, logger: logger,
                            mode: .staged(fd: fd, dirty: true), size: 0, exists: false, awaitsName: true, holdLimit: holdLimit)
    }

    /// An existing image opened for writing without O_TRUNC: a staged copy, published on close if changed.
    static func edit(store: any Store, storeIndex: Int, name: String,
                     staging: StagingArea, logger: Logger) async throws(FSError) -> WriteSession {
        let fd = try staging.makeFile()
        do throws(FSError) {
            let size = try await copyImage(store: store, name: name, into: fd)
            return WriteSession(store: store, storeIndex: storeIndex, name: name, staging: staging, logger: logger,
                                mode: .staged(fd: fd, dirty: false), size: size, exists: true)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    private static func temporaryName() -> String {
        ".glance-storefs-replace-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    private static func beginWriter(store: any Store, name: String, replacing: Bool,
                                     sizeHint: UInt64? = nil) async throws(FSError) -> any ImageWriter {
        let target = replacing && store.capabilities.isCapable(of: .rename) ? temporaryName() : name
        if replacing && target == name {
            // No rename: the old image has to go first (not atomic, but the store cannot do better).
            do throws(StoreError) { try await store.delete(name) } catch where error != .notFound(image: name) {
                throw FSError(error)
            } catch {}
        }
        do throws(StoreError) { return try await store.beginWrite(target, sizeHint: sizeHint) } catch { throw FSError(error) }
    }

    // MARK: Data

    func write(_ bytes: [UInt8], at offset: UInt64, owner: UInt64 = 0) async throws(FSError) {
        lastWrite = .now
        if writerOwner == nil, owner != 0 { writerOwner = owner }
        switch mode {
        case .failed(let code):
            throw FSError(code)
        case .streaming(let writer, let position):
            if offset < position {
                // Going back: what was streamed is gone from here, and the store cannot rewrite it.
                logger.error("a write went back in a file being streamed to the store; open it read-write to edit in place",
                             metadata: ["store": "\(store.id)", "image": "\(name)", "offset": "\(offset)", "streamed": "\(position)"])
                await fail(EIO)
                throw .io
            }
            let start = ContinuousClock.now
            do throws(StoreError) {
                // A seek forward (cp of a sparse file) leaves a hole: zeroes, which thin provisioning skips.
                if offset > position { try await Self.writeZeros(writer, count: offset - position) }
                try await writer.write(bytes)
                meters.record("write", errno: nil, since: start)
            } catch {
                meters.record("write", errno: error.errno, since: start)
                logger.error("write failed", metadata: ["store": "\(store.id)", "image": "\(name)", "error": "\(error)"])
                await fail(error.errno)
                throw FSError(error)
            }
            let end = offset + UInt64(bytes.count)
            mode = .streaming(writer, position: end)
            size = max(size, end)
        case .published:
            try await restage()
            try await write(bytes, at: offset)
        case .staged(let fd, _):
            try await Self.pwriteAll(fd, bytes, at: offset)
            mode = .staged(fd: fd, dirty: true)
            size = max(size, offset + UInt64(bytes.count))
            if awaitsName && size > holdLimit { try await streamWhatIsHeld() }
        }
    }

    /// A session awaiting a name grew past what is held on local disk: what it holds goes to a
    /// writer under its own name, and the rest streams after it (rsync writes in order).
    private func streamWhatIsHeld() async throws(FSError) {
        guard case .staged(let fd, _) = mode else { return }
        awaiting.store(false, ordering: .releasing)
        let writer = try await Self.beginWriter(store: store, name: name, replacing: false)
        do throws(StoreError) {
            try await Self.copy(fd, size: size, into: writer)
        } catch {
            await writer.abort()
            meters.aborted.increment()
            mode = .failed(error.errno)
            Glibc.close(fd)
            throw FSError(error)
        }
        Glibc.close(fd)
        mode = .streaming(writer, position: size)
    }

    func read(at offset: UInt64, count: Int) async throws(FSError) -> [UInt8] {
        if case .streaming = mode { try await restage() }
        if case .published = mode { try await restage() }
        guard case .staged(let fd, _) = mode else { throw .io }
        guard offset < size else { return [] }
        let wanted = Int(min(UInt64(count), size - offset))
        return try await storeCall { () async throws(StoreError) -> [UInt8] in
            var bytes = try await Self.preadAll(fd, count: wanted, at: offset)
            if offset + UInt64(wanted) > size { bytes.removeLast(Int(offset + UInt64(wanted) - size)) }
            return bytes
        }
    }

    /// ftruncate on the open file.
    func truncate(to newSize: UInt64) async throws(FSError) {
        touched = true
        switch mode {
        case .failed(let code): throw FSError(code)
        case .streaming(_, let position):
            if newSize >= position {
                size = newSize  // zeroes added at publish
                return
            }
            try await restage()
            try await truncate(to: newSize)
        case .published:
            try await restage()
            try await truncate(to: newSize)
        case .staged(let fd, _):
            if ftruncate(fd, off_t(newSize)) != 0 { throw FSError(errno) }
            size = newSize
            mode = .staged(fd: fd, dirty: true)
        }
    }

    /// utimens: kept until the image exists, then set in the store.
    func setModificationTime(_ time: Timestamp) async throws(FSError) {
        requestedMtime = time
        touched = true
        if exists, case .staged(_, false) = mode { try await applyMtime() }
        if case .published = mode { try await applyMtime() }
    }

    var modificationTime: Timestamp { requestedMtime ?? lastWrite }

    /// Size and time while they differ from the store's: the writer sees its own writes. Nil once
    /// what the store holds is current.
    var pendingAttributes: (size: UInt64, modificationTime: Timestamp)? {
        switch mode {
        case .published: return nil
        case .staged(_, dirty: false) where requestedMtime == nil: return nil
        default: return (size, modificationTime)
        }
    }

    // MARK: Publishing

    /// close(2): make the image visible under its name with everything written so far.
    func publish() async throws(FSError) {
        switch mode {
        case .failed(let code):
            throw FSError(code)
        case .published, .staged(_, dirty: false):
            return
        case .streaming(let writer, let position):
            do throws(StoreError) {
                if size > position { try await Self.writeZeros(writer, count: size - position) }
                try await finish(writer)
            } catch {
                await fail(error.errno)
                throw FSError(error)
            }
            mode = .published
        case .staged(let fd, dirty: true):
            awaiting.store(false, ordering: .releasing)  // closed for good without a rename: its own name
            if try await publishStaged(fd, as: name, replacing: exists) { requestedMtime = nil }
            mode = .staged(fd: fd, dirty: false)
        }
        exists = true
        if requestedMtime != nil { try await applyMtime() }
    }

    /// rsync's rename of a session awaiting a name: the staged image published once, under
    /// `newName`, with the time rsync set. The session is done after it.
    func publishRenamed(to newName: String, replacing: Bool) async throws(FSError) {
        guard awaitsName, case .staged(let fd, _) = mode else { throw .io }
        let timeTaken: Bool
        do throws(FSError) {
            timeTaken = try await publishStaged(fd, as: newName, replacing: false)
        } catch where error.errno == EEXIST && replacing {
            timeTaken = try await publishStaged(fd, as: newName, replacing: true)  // rename(2) replaces
        }
        awaiting.store(false, ordering: .releasing)
        Glibc.close(fd)
        mode = .published
        exists = false  // nothing is under the old name
        if !timeTaken, let date = requestedMtime, store.capabilities.isCapable(of: .setModificationTime) {
            do throws(StoreError) { try await store.setModificationTime(newName, to: date) } catch { throw FSError(error) }
        }
        requestedMtime = nil
    }

    /// Gives up a session awaiting a name (rsync removed its temporary file): nothing was published.
    func discard() {
        if case .staged(let fd, _) = mode { Glibc.close(fd) }
        awaiting.store(false, ordering: .releasing)
        mode = .failed(ENOENT)
    }

    /// The staged image published as `target`, with the time set by utimens when the store's writer
    /// takes it (true then, or when none was set).
    private func publishStaged(_ fd: Int32, as target: String, replacing: Bool) async throws(FSError) -> Bool {
        let writer = try await Self.beginWriter(store: store, name: target, replacing: replacing, sizeHint: size)
        let timeTaken = if let requestedMtime { await writer.publishWith(modificationTime: requestedMtime) } else { true }
        try await upload(fd, into: writer, as: target)
        return timeTaken
    }

    /// The staged image written to `writer` and published as `target`; on failure nothing is left.
    private func upload(_ fd: Int32, into writer: any ImageWriter, as target: String) async throws(FSError) {
        do throws(StoreError) {
            try await Self.copy(fd, size: size, into: writer)
            try await finish(writer, as: target)
        } catch {
            await writer.abort()
            meters.aborted.increment()
            throw FSError(error)
        }
    }

    private static func copy(_ fd: Int32, size: UInt64, into writer: any ImageWriter) async throws(StoreError) {
        var offset: UInt64 = 0
        while offset < size {
            let count = Int(min(UInt64(piece), size - offset))
            let bytes = try await preadAll(fd, count: count, at: offset)
            try await writer.write(bytes)
            offset += UInt64(count)
        }
    }

    /// Publishes the writer (under a temporary name when replacing) and renames it into place.
    private func finish(_ writer: any ImageWriter, as target: String? = nil) async throws(StoreError) {
        let name = target ?? self.name
        let start = ContinuousClock.now
        let result: ImageAddResult
        do throws(StoreError) {
            result = try await writer.publish()
            if writer.name != name {
                do throws(StoreError) {
                    try await store.rename(writer.name, to: name, replacing: true)
                } catch {
                    try? await store.delete(writer.name)
                    throw error
                }
            }
            meters.record("publish", errno: nil, since: start)
        } catch {
            meters.record("publish", errno: error.errno, since: start)
            throw error
        }
        meters.published.increment()
        logger.info("published", metadata: ["store": "\(store.id)", "image": "\(name)", "size": "\(result.size)",
                                             "location": "\(store.location(of: name))"])
    }

    /// The file is closed for good: an unpublished stream is published (close semantics), a failed
    /// one is dropped with nothing left.
    func release() async throws(FSError) {
        try await publish()
    }

    /// The mount is going away before this image was closed: nothing is published, what was
    /// streamed to the store is removed. True when something unpublished was given up.
    func abandon() async -> Bool {
        let unpublished: Bool
        switch mode {
        case .streaming(let writer, _):
            await writer.abort()
            unpublished = true
        case .staged(let fd, let dirty):
            Glibc.close(fd)
            unpublished = dirty
        case .published, .failed:
            unpublished = false
        }
        if unpublished {
            meters.aborted.increment()
            logger.warning("the mount is going away: an image being written is not published", metadata: [
                "store": "\(store.id)", "image": "\(name)", "bytes_written": "\(size)"])
        }
        mode = .failed(EIO)
        return unpublished
    }

    private func applyMtime() async throws(FSError) {
        guard let date = requestedMtime else { return }
        guard store.capabilities.isCapable(of: .setModificationTime) else { return }
        do throws(StoreError) { try await store.setModificationTime(name, to: date) } catch { throw FSError(error) }
        requestedMtime = nil
    }

    // MARK: Helpers

    private func fail(_ code: Int32) async {
        if case .streaming(let writer, _) = mode {
            // What was sent is removed; the writer hears of the failure within a second even when
            // a backend that stopped answering holds the clean-up back (it goes on meanwhile).
            _ = await awaitAtMost(seconds: 1, Task { await writer.abort() })
            meters.aborted.increment()
        }
        mode = .failed(code)
    }

    /// Moves to a staging file holding the image as published, so it can change anywhere.
    private func restage() async throws(FSError) {
        switch mode {
        case .streaming(_, let position) where position == 0 && !exists:
            // Nothing streamed yet: start over in staging, and drop the unused writer.
            if case .streaming(let writer, _) = mode { await writer.abort() }
            let fd = try staging.makeFile()
            if ftruncate(fd, off_t(size)) != 0 { Glibc.close(fd); throw FSError(errno) }
            mode = .staged(fd: fd, dirty: true)
        case .streaming:
            // Publish what was streamed, then edit a copy of it.
            try await publish()
            try await restage()
        case .published:
            let fd = try staging.makeFile()
            do throws(FSError) {
                size = try await Self.copyImage(store: store, name: name, into: fd)
            } catch {
                Glibc.close(fd)
                throw error
            }
            mode = .staged(fd: fd, dirty: false)
        case .staged, .failed:
            return
        }
    }

    static let piece = 1 << 20

    private static func writeZeros(_ writer: any ImageWriter, count: UInt64) async throws(StoreError) {
        var left = count
        while left > 0 {
            let n = Int(min(UInt64(piece), left))
            try await writer.write([UInt8](repeating: 0, count: n))
            left -= UInt64(n)
        }
    }

    private static func copyImage(store: any Store, name: String, into fd: Int32) async throws(FSError) -> UInt64 {
        do throws(StoreError) {
            let reader = try await store.openForReading(name)
            defer { Task { await reader.close() } }
            var offset: UInt64 = 0
            while offset < reader.size {
                let bytes = try await reader.read(at: offset, count: piece)
                if bytes.isEmpty { break }
                try await pwriteAllStore(fd, bytes, at: offset)
                offset += UInt64(bytes.count)
            }
            return offset
        } catch { throw FSError(error) }
    }

    private static func pwriteAll(_ fd: Int32, _ bytes: [UInt8], at offset: UInt64) async throws(FSError) {
        try await storeCall { () async throws(StoreError) in try await pwriteAllStore(fd, bytes, at: offset) }
    }

    private static func pwriteAllStore(_ fd: Int32, _ bytes: [UInt8], at offset: UInt64) async throws(StoreError) {
        try await BlockingIO.run { () throws(StoreError) in
            let failure: Int32? = bytes.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset) + off_t(done))
                    if n < 0 {
                        if errno == EINTR { continue }
                        return errno
                    }
                    done += n
                }
                return nil
            }
            if let failure { throw .io(errno: failure, "write to the staging file") }
        }
    }

    private static func preadAll(_ fd: Int32, count: Int, at offset: UInt64) async throws(StoreError) -> [UInt8] {
        try await BlockingIO.run { () throws(StoreError) -> [UInt8] in
            var result = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let n = result.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw .io(errno: errno, "read the staging file")
                }
                if n == 0 { break }  // a hole past the end of what was written: zeroes
                done += n
            }
            return result
        }
    }
}
