import Glibc
import Synchronization
import CSystemShims

/// One image being written to a file store. The data goes to an unnamed O_TMPFILE file (or, where
/// the file system lacks it, a hidden partial file) and is linked under its name by `publish()` only
/// when complete. With `filesystem_thin_provisioning` an all-zero chunk of `filesystem_store_chunk_size`
/// is not written. Nothing is hashed here (as in the rbd store): md5 + sha512 of every byte took 65%
/// of the daemon's CPU while `cp` wrote 1 GiB (perf), holding writes at half the disk's rate on two
/// cores; Glance's checksums are computed when asked for (`getfattr -n user.glance.checksum`) and then
/// kept as xattrs by `FileStore.keepDigests`.
final class FileImageWriter: ImageWriter {
    let name: String
    private let store: FileStore
    private let directory: DataDirectory
    private let state: Mutex<State>
    /// Write-behind: the previous piece's pwrite, still running while the next piece arrives, so the
    /// copy into the page cache overlaps the kernel's delivery of the next FUSE request instead of
    /// adding to it (each `write(2)` of the copying program waits for our reply). One piece at most;
    /// its failure is thrown by the next write or by publish, and nothing is published after one.
    private let behind = Mutex<Task<Void, Never>?>(nil)
    private let failure = Mutex<StoreError?>(nil)

    private struct State: ~Copyable {
        var fd: Int32
        /// Set when O_TMPFILE was not available.
        var partialName: String?
        var written: UInt64 = 0
        /// Thin provisioning: bytes of the current chunk not yet decided on.
        var pendingChunk: [UInt8] = []
        var finished = false
        /// Bytes whose writeback was already started.
        var writebackStarted: UInt64 = 0
    }

    init(store: FileStore, directory: DataDirectory, name: String) throws(StoreError) {
        self.store = store
        self.directory = directory
        self.name = name
        var fd = storefs_open_tmpfile(directory.fd, 0o666)
        var partialName: String?
        if fd < 0 {
            guard [EOPNOTSUPP, EISDIR, EINVAL, ENOENT].contains(errno) else {
                throw Self.mapWriteError(errno, path: directory.path)
            }
            let temp = FileStore.partialPrefix + String(UInt64.random(in: 0...UInt64.max), radix: 16)
            fd = openat(directory.fd, temp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            guard fd >= 0 else { throw Self.mapWriteError(errno, path: directory.join(temp)) }
            partialName = temp
        }
        state = Mutex(State(fd: fd, partialName: partialName))
    }

    deinit {
        // An abandoned writer discards its data, like abort().
        state.withLock { state in
            if !state.finished { Self.discard(&state, directory: directory) }
        }
    }

    func write(_ bytes: [UInt8]) async throws(StoreError) {
        try await drain()
        let task = Task { [self] in
            do throws(StoreError) { try await self.writeNow(bytes) } catch { self.failure.withLock { $0 = $0 ?? error } }
        }
        behind.withLock { $0 = task }
    }

    /// Waits for the piece being written; throws what any piece failed with.
    private func drain() async throws(StoreError) {
        if let pending = behind.withLock({ $0 }) { await pending.value }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    private func writeNow(_ bytes: [UInt8]) async throws(StoreError) {
        let chunkSize = store.settings.chunkSize
        let thin = store.settings.thinProvisioning
        let directory = self.directory
        try await BlockingIO.run { [self] () throws(StoreError) in
            try self.state.withLock { (s: inout State) throws(StoreError) in
                guard !s.finished else { throw .backend("write after the image was published or aborted") }
                let failure: StoreError? = bytes.withUnsafeBytes { raw in
                    do throws(StoreError) {
                        if thin {
                            try Self.writeThin(raw, state: &s, chunkSize: chunkSize)
                        } else {
                            try Self.writeAll(s.fd, raw, at: s.written)
                            s.written += UInt64(raw.count)
                        }
                        if s.written - s.writebackStarted >= Self.writebackStep {
                            // Let the disk work while data still arrives; publish() then syncs only the tail.
                            _ = storefs_start_writeback(s.fd, off_t(s.writebackStarted), off_t(s.written - s.writebackStarted))
                            s.writebackStarted = s.written
                        }
                        return nil
                    } catch { return error }
                }
                if let failure {
                    Self.discard(&s, directory: directory)
                    throw failure
                }
            }
        }
    }

    /// Glance's loop: every chunk of `chunkSize` bytes of the stream (aligned to the image start)
    /// that is all zeroes is skipped, leaving a hole; `publish()` truncates to the full size.
    private static func writeThin(_ raw: UnsafeRawBufferPointer, state s: inout State, chunkSize: Int) throws(StoreError) {
        var input = raw[...]
        while !input.isEmpty {
            if s.pendingChunk.isEmpty && input.count >= chunkSize {
                let chunk = UnsafeRawBufferPointer(rebasing: input.prefix(chunkSize))
                try flushChunk(chunk, state: &s)
                input = input.dropFirst(chunkSize)
                continue
            }
            let take = min(chunkSize - s.pendingChunk.count, input.count)
            s.pendingChunk.append(contentsOf: input.prefix(take))
            input = input.dropFirst(take)
            if s.pendingChunk.count == chunkSize {
                let chunk = s.pendingChunk
                s.pendingChunk.removeAll(keepingCapacity: true)
                try flushChunk(chunk, state: &s)
            }
        }
    }

    private static func flushChunk(_ chunk: UnsafeRawBufferPointer, state s: inout State) throws(StoreError) {
        if !Zeros.only(chunk) { try writeAll(s.fd, chunk, at: s.written) }
        s.written += UInt64(chunk.count)
    }

    private static func flushChunk(_ chunk: [UInt8], state s: inout State) throws(StoreError) {
        let failure: StoreError? = chunk.withUnsafeBytes { c in
            do throws(StoreError) { try flushChunk(c, state: &s); return nil } catch { return error }
        }
        if let failure { throw failure }
    }

    static let writebackStep: UInt64 = 32 << 20
    static let sliceSize = 128 << 10

    /// In slices of `sliceSize`: the kernel's copy into the page cache ran at half the speed for
    /// 1 MiB calls than for 128 KiB ones here (a 1 GiB copy: 1.3-1.7 s of CPU against 1.0 s).
    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws(StoreError) {
        var done = 0
        while done < bytes.count {
            let n = retryingEINTR { pwrite(fd, bytes.baseAddress! + done, min(sliceSize, bytes.count - done), off_t(offset) + off_t(done)) }
            if n < 0 { throw mapWriteError(errno, path: "image data") }
            done += n
        }
    }

    /// Glance: EFBIG/ENOSPC -> StorageFull (partial data removed), EACCES -> StorageWriteDenied.
    static func mapWriteError(_ code: Int32, path: String) -> StoreError {
        switch code {
        case EDQUOT: .storageQuotaFull("writing \(path): \(String(cString: strerror(code)))")
        case ENOSPC, EFBIG: .storageFull("writing \(path): \(String(cString: strerror(code)))")
        case EACCES, EPERM: .storageWriteDenied("writing \(path)")
        default: posixError("writing \(path)", code)
        }
    }

    func publish() async throws(StoreError) -> ImageAddResult {
        try await drain()
        let directory = self.directory, name = self.name, store = self.store
        return try await BlockingIO.run { [self] () throws(StoreError) -> ImageAddResult in
            try self.state.withLock { (s: inout State) throws(StoreError) -> ImageAddResult in
                guard !s.finished else { throw .backend("the image was already published or aborted") }
                do throws(StoreError) {
                    if !s.pendingChunk.isEmpty {
                        let chunk = s.pendingChunk
                        s.pendingChunk = []
                        try Self.flushChunk(chunk, state: &s)
                    }
                    // Holes at the end (thin provisioning) need the size set explicitly.
                    if ftruncate(s.fd, off_t(s.written)) != 0 { throw Self.mapWriteError(errno, path: directory.join(name)) }
                    if let perm = store.settings.filePermissions { fchmod(s.fd, mode_t(perm)) }
                    // The data must be on disk before the name is, or a power cut could publish a hole.
                    if fdatasync(s.fd) != 0 { throw Self.mapWriteError(errno, path: directory.join(name)) }
                    let linked: Int32
                    if let partial = s.partialName {
                        linked = storefs_rename_noreplace(directory.fd, partial, directory.fd, name)
                    } else {
                        linked = storefs_link_tmpfile(s.fd, directory.fd, name)
                    }
                    if linked != 0 {
                        throw errno == EEXIST ? .duplicate(image: name) : Self.mapWriteError(errno, path: directory.join(name))
                    }
                    s.partialName = nil
                    close(s.fd)
                    s.finished = true
                    let path = directory.join(name)
                    return ImageAddResult(location: "file://" + path, size: s.written, checksum: nil,
                                          multihash: nil, metadata: store.locationMetadata(path: path))
                } catch {
                    Self.discard(&s, directory: directory)
                    throw error
                }
            }
        }
    }

    func abort() async {
        _ = try? await drain()
        let directory = self.directory
        _ = try? await BlockingIO.run { [self] () throws(StoreError) in
            self.state.withLock { s in if !s.finished { Self.discard(&s, directory: directory) } }
        }
    }

    private static func discard(_ s: inout State, directory: DataDirectory) {
        close(s.fd)
        if let partial = s.partialName { unlinkat(directory.fd, partial, 0) }
        s.partialName = nil
        s.finished = true
    }
}
