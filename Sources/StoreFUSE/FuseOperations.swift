import CFuse
import Foundation
import Glibc
import Logging
import GlanceStore
import StoreFS

/// The libfuse low-level callbacks. Each one reads its arguments, starts the file-system call and
/// returns: the reply is sent when the call completes, from whatever thread it completes on, so no
/// libfuse thread waits on a backend. Nothing here knows a store type.
enum FuseOperations {
    static func table() -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.`init` = { userdata, conn in FuseOperations.negotiate(userdata, conn) }
        ops.lookup = { req, parent, name in FuseOperations.lookup(req, parent, String(cString: name!)) }
        ops.forget = { req, _, _ in fuse_reply_none(req) }
        ops.forget_multi = { req, _, _ in fuse_reply_none(req) }
        ops.getattr = { req, ino, _ in FuseOperations.getattr(req, ino) }
        ops.setattr = { req, ino, attr, valid, _ in FuseOperations.setattr(req, ino, attr!.pointee, valid) }
        ops.opendir = { req, ino, fi in FuseOperations.opendir(req, ino, fi!.pointee) }
        ops.readdir = { req, _, size, off, fi in FuseOperations.readdir(req, size, off, fi!.pointee.fh, plus: false) }
        ops.readdirplus = { req, _, size, off, fi in FuseOperations.readdir(req, size, off, fi!.pointee.fh, plus: true) }
        ops.releasedir = { req, _, fi in FuseContext.of(req).fs.releasedir(fi!.pointee.fh); fuse_reply_err(req, 0) }
        ops.open = { req, ino, fi in FuseOperations.open(req, ino, fi!.pointee) }
        ops.create = { req, parent, name, _, fi in FuseOperations.create(req, parent, String(cString: name!), fi!.pointee) }
        ops.read = { req, _, size, off, fi in FuseOperations.read(req, size, off, fi!.pointee.fh) }
        ops.write = { req, _, buf, size, off, fi in
            let bytes = [UInt8](UnsafeRawBufferPointer(start: buf, count: size))  // libfuse reuses buf on return
            FuseOperations.write(req, bytes, off, fi!.pointee.fh, owner: fi!.pointee.lock_owner)
        }
        ops.flush = { req, _, fi in FuseOperations.flush(req, fi!.pointee.fh, owner: fi!.pointee.lock_owner) }
        ops.release = { req, _, fi in FuseOperations.release(req, fi!.pointee.fh) }
        ops.fsync = { req, _, _, _ in fuse_reply_err(req, 0) }  // published images are already synced
        ops.unlink = { req, parent, name in FuseOperations.unlink(req, parent, String(cString: name!)) }
        ops.rename = { req, parent, name, newparent, newname, flags in
            FuseOperations.rename(req, parent, String(cString: name!), newparent, String(cString: newname!), flags)
        }
        ops.mkdir = { req, parent, name, _ in FuseOperations.refuse(req, "mkdir", parent, name) }
        ops.mknod = { req, parent, name, _, _ in FuseOperations.refuse(req, "mknod", parent, name) }
        ops.symlink = { req, _, parent, name in FuseOperations.refuse(req, "symlink", parent, name) }
        ops.link = { req, _, parent, name in FuseOperations.refuse(req, "link", parent, name) }
        ops.rmdir = { req, parent, name in FuseOperations.refuse(req, "rmdir", parent, name) }
        ops.statfs = { req, ino in FuseOperations.statfs(req, ino) }
        ops.getxattr = { req, ino, name, size in FuseOperations.getxattr(req, ino, String(cString: name!), size) }
        ops.listxattr = { req, ino, size in FuseOperations.listxattr(req, ino, size) }
        ops.setxattr = { req, ino, _, _, _, _ in FuseOperations.setxattr(req, ino) }
        ops.removexattr = { req, ino, _ in FuseOperations.setxattr(req, ino) }
        return ops
    }

    // MARK: Session set-up

    /// Capabilities negotiated once: 1 MiB writes and reads of `ReadSize` (spliced), parallel reads, O_TRUNC in open (so replacing an
    /// image is one atomic publish), readdirplus for every readdir — not "auto", which asks for
    /// attributes only in the first batch of a directory unless lookups follow between batches: `find`
    /// reads a whole directory before it stats, and then looked up 10,000 images one by one (0.8 s
    /// against 0.05 s); our listing carries every image's attributes anyway. No writeback cache (writes
    /// must reach the store in order and be complete when close returns).
    static func negotiate(_ userdata: UnsafeMutableRawPointer?, _ conn: UnsafeMutablePointer<fuse_conn_info>?) {
        guard let conn else { return }
        conn.pointee.max_write = UInt32(Conversions.preferredBlockSize)
        let wanted = UInt32(FUSE_CAP_ASYNC_READ) | UInt32(FUSE_CAP_ATOMIC_O_TRUNC) | UInt32(FUSE_CAP_READDIRPLUS)
            | UInt32(FUSE_CAP_PARALLEL_DIROPS) | UInt32(FUSE_CAP_AUTO_INVAL_DATA)
            | UInt32(FUSE_CAP_SPLICE_WRITE) | UInt32(FUSE_CAP_SPLICE_MOVE)
        conn.pointee.want |= wanted & conn.pointee.capable
        conn.pointee.want &= ~(UInt32(FUSE_CAP_WRITEBACK_CACHE) | UInt32(FUSE_CAP_READDIRPLUS_AUTO))
        conn.pointee.time_gran = 1
        if let userdata {
            let context = Unmanaged<FuseContext>.fromOpaque(userdata).takeUnretainedValue()
            conn.pointee.max_read = UInt32(context.maxRead)
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.05) {
                FuseMount.raiseReadahead(context.mountpoint, maxRead: context.maxRead, logger: context.logger)
                // The INIT reply has been written by now: whether the kernel took passthrough.
                context.logger.info("reads of local images", metadata: [
                    "passthrough": "\(context.passthrough.negotiated ? "on" : "off")"])
            }
            context.logger.debug("FUSE session initialised", metadata: [
                "protocol": "\(conn.pointee.proto_major).\(conn.pointee.proto_minor)",
                "max_write": "\(conn.pointee.max_write)", "max_read": "\(conn.pointee.max_read)", "max_readahead": "\(conn.pointee.max_readahead)"])
        }
    }

    // MARK: Helpers

    /// Runs `body` in a Task and sends its reply, or the errno it failed with.
    static func answer(_ req: fuse_req_t?, _ what: @autoclosure () -> String,
                       _ body: @escaping @Sendable (StoreFilesystem, Request) async throws(FSError) -> Void) {
        let context = FuseContext.of(req)
        let request = Request(req)
        let label = context.traceRequests ? what() : ""
        context.inFlight.add(1, ordering: .relaxed)
        context.inFlightMeter.increment()
        context.requests.add(1, ordering: .relaxed)
        Task {
            defer {
                context.inFlightMeter.decrement()
                context.inFlight.subtract(1, ordering: .releasing)
            }
            do throws(FSError) {
                try await body(context.fs, request)
                if context.traceRequests { context.logger.debug("\(label) -> ok") }
            } catch {
                if context.traceRequests { context.logger.debug("\(label) -> \(error)") }
                fuse_reply_err(request.raw, error.errno)
            }
        }
    }

    static func replyEntry(_ request: Request, _ entry: EntryReply) {
        var param = Conversions.entry(entry)
        fuse_reply_entry(request.raw, &param)
    }

    static func replyAttributes(_ request: Request, _ attributes: FileAttributes, timeout: Double) {
        var st = Conversions.stat(attributes)
        fuse_reply_attr(request.raw, &st, timeout)
    }

    // MARK: Names and attributes

    static func lookup(_ req: fuse_req_t?, _ parent: fuse_ino_t, _ name: String) {
        answer(req, "lookup \(parent)/\(name)") { fs, request throws(FSError) in
            replyEntry(request, try await fs.lookup(parent: parent, name: name))
        }
    }

    static func getattr(_ req: fuse_req_t?, _ ino: fuse_ino_t) {
        answer(req, "getattr \(ino)") { fs, request throws(FSError) in
            let attributes = try await fs.getattr(ino)
            replyAttributes(request, attributes, timeout: attributes.isDirectory ? StoreFilesystem.directoryTimeout : fs.entryTimeout)
        }
    }

    static func setattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ attr: stat, _ valid: Int32) {
        var change = AttributeChange()
        if valid & FUSE_SET_ATTR_SIZE != 0 { change.size = UInt64(max(0, attr.st_size)) }
        if valid & FUSE_SET_ATTR_MTIME_NOW != 0 {
            change.modificationTime = .now
        } else if valid & FUSE_SET_ATTR_MTIME != 0 {
            change.modificationTime = Timestamp(attr.st_mtim)
        }
        if valid & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID) != 0 { change.ownershipOrMode = true }
        let finalChange = change
        answer(req, "setattr \(ino) valid=\(String(valid, radix: 16))") { fs, request throws(FSError) in
            let attributes = try await fs.setattr(ino, change: finalChange)
            replyAttributes(request, attributes, timeout: 0)
        }
    }

    // MARK: Directories

    static func opendir(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ fi: fuse_file_info) {
        let original = fi
        answer(req, "opendir \(ino)") { fs, request throws(FSError) in
            var info = original
            info.fh = try await fs.opendir(ino)
            fuse_reply_open(request.raw, &info)
        }
    }

    /// Entries are packed synchronously from the listing taken at opendir.
    static func readdir(_ req: fuse_req_t?, _ size: Int, _ offset: off_t, _ fh: UInt64, plus: Bool) {
        let context = FuseContext.of(req)
        let entries: ArraySlice<DirectoryEntry>
        do throws(FSError) { entries = try context.fs.readdir(fh, offset: Int(offset)) } catch {
            fuse_reply_err(req, error.errno)
            return
        }
        var buffer = [CChar](repeating: 0, count: size)
        var used = 0
        buffer.withUnsafeMutableBufferPointer { buf in
            for (i, entry) in zip(entries.indices, entries) {
                let next = off_t(i + 1)
                let n: Int
                if plus {
                    var param = Conversions.entry(EntryReply(attributes: entry.attributes,
                        entryTimeout: entry.attributes.isDirectory ? StoreFilesystem.directoryTimeout : context.fs.entryTimeout,
                        attributeTimeout: entry.attributes.isDirectory ? StoreFilesystem.directoryTimeout : context.fs.entryTimeout))
                    n = fuse_add_direntry_plus(req, buf.baseAddress! + used, size - used, entry.name, &param, next)
                } else {
                    var st = Conversions.stat(entry.attributes)
                    n = fuse_add_direntry(req, buf.baseAddress! + used, size - used, entry.name, &st, next)
                }
                if n > size - used { break }
                used += n
            }
            fuse_reply_buf(req, buf.baseAddress, used)
        }
    }

    // MARK: Files

    static func open(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ fi: fuse_file_info) {
        let original = fi
        let passthrough = FuseContext.of(req).passthrough
        answer(req, "open \(ino) flags=\(String(fi.flags, radix: 8))") { fs, request throws(FSError) in
            var info = original
            let writing = info.flags & O_ACCMODE != O_RDONLY
            if writing, !passthrough.mayWrite(ino: ino) { throw FSError(ETXTBSY) }
            let opened: OpenReply
            do throws(FSError) {
                opened = try await fs.open(ino, flags: info.flags)
            } catch {
                if writing { passthrough.writerFailed(ino: ino) }
                throw error
            }
            info.fh = opened.handle
            var keepCache = opened.keepCache
            if writing {
                passthrough.writerOpened(fh: opened.handle, ino: ino)
            } else if !opened.directIO, let fd = fs.localDescriptor(opened.handle) {
                switch passthrough.open(fh: opened.handle, ino: ino, fd: fd) {
                // The kernel takes no other flag with passthrough (keep_cache would fail the open).
                case .passthrough: keepCache = false
                case .busy:
                    await fs.release(opened.handle)
                    throw FSError(EBUSY)
                case .cached: break
                }
            }
            storefs_fi_set_keep_cache(&info, keepCache ? 1 : 0)
            storefs_fi_set_direct_io(&info, opened.directIO ? 1 : 0)
            fuse_reply_open(request.raw, &info)
        }
    }

    static func create(_ req: fuse_req_t?, _ parent: fuse_ino_t, _ name: String, _ fi: fuse_file_info) {
        let original = fi
        answer(req, "create \(parent)/\(name)") { fs, request throws(FSError) in
            var info = original
            let (entry, opened) = try await fs.create(parent: parent, name: name, flags: info.flags)
            info.fh = opened.handle
            storefs_fi_set_direct_io(&info, opened.directIO ? 1 : 0)
            var param = Conversions.entry(entry)
            fuse_reply_create(request.raw, &param, &info)
        }
    }

    static func read(_ req: fuse_req_t?, _ size: Int, _ offset: off_t, _ fh: UInt64) {
        let context = FuseContext.of(req)
        // A local file: splice straight from its descriptor on this thread, as passthrough_ll does.
        if let reply = context.fs.fileRead(fh, offset: UInt64(offset), count: size) {
            send(Request(req), reply)
            return
        }
        answer(req, "read \(fh) @\(offset)+\(size)") { fs, request throws(FSError) in
            send(request, try await fs.read(fh, offset: UInt64(offset), count: size))
        }
    }

    static func send(_ request: Request, _ reply: ReadReply) {
        switch reply {
        case .bytes(let bytes):
            bytes.withUnsafeBytes { raw in
                _ = fuse_reply_buf(request.raw, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
            }
        case .buffers(let data):
            data.withSegments { segments in
                var vector = segments.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
                _ = fuse_reply_iov(request.raw, &vector, Int32(vector.count))
            }
        case .file(let fd, let offset, let count):
            let rc = storefs_reply_fd(request.raw, fd, count, off_t(offset))
            if rc != 0 { fuse_reply_err(request.raw, -rc) }
        }
    }

    static func write(_ req: fuse_req_t?, _ bytes: [UInt8], _ offset: off_t, _ fh: UInt64, owner: UInt64) {
        answer(req, "write \(fh) @\(offset)+\(bytes.count)") { fs, request throws(FSError) in
            let written = try await fs.write(fh, offset: UInt64(offset), bytes: bytes, owner: owner)
            fuse_reply_write(request.raw, written)
        }
    }

    static func flush(_ req: fuse_req_t?, _ fh: UInt64, owner: UInt64) {
        answer(req, "flush \(fh) owner=\(owner)") { fs, request throws(FSError) in
            try await fs.flush(fh, owner: owner)
            fuse_reply_err(request.raw, 0)
        }
    }

    static func release(_ req: fuse_req_t?, _ fh: UInt64) {
        FuseContext.of(req).passthrough.release(fh: fh)
        answer(req, "release \(fh)") { fs, request throws(FSError) in
            await fs.release(fh)
            fuse_reply_err(request.raw, 0)
        }
    }

    // MARK: Changing the tree

    static func unlink(_ req: fuse_req_t?, _ parent: fuse_ino_t, _ name: String) {
        answer(req, "unlink \(parent)/\(name)") { fs, request throws(FSError) in
            try await fs.unlink(parent: parent, name: name)
            fuse_reply_err(request.raw, 0)
        }
    }

    static func rename(_ req: fuse_req_t?, _ parent: fuse_ino_t, _ name: String, _ newParent: fuse_ino_t,
                       _ newName: String, _ flags: UInt32) {
        answer(req, "rename \(parent)/\(name) -> \(newParent)/\(newName)") { fs, request throws(FSError) in
            try await fs.rename(parent: parent, name: name, newParent: newParent, newName: newName, flags: flags)
            fuse_reply_err(request.raw, 0)
        }
    }

    static func refuse(_ req: fuse_req_t?, _ what: String, _ parent: fuse_ino_t, _ name: UnsafePointer<CChar>?) {
        let error = FuseContext.of(req).fs.refuseDirectoryChange(what, parent: parent, name: name.map { String(cString: $0) } ?? "")
        fuse_reply_err(req, error.errno)
    }

    static func statfs(_ req: fuse_req_t?, _ ino: fuse_ino_t) {
        answer(req, "statfs \(ino)") { fs, request throws(FSError) in
            let capacity = try await fs.statfs(ino)
            var s = statvfs()
            let block: UInt64 = 4096
            s.f_bsize = UInt(block)
            s.f_frsize = UInt(block)
            s.f_blocks = fsblkcnt_t(capacity.totalBytes / block)
            s.f_bfree = fsblkcnt_t(capacity.availableBytes / block)
            s.f_bavail = fsblkcnt_t(capacity.availableBytes / block)
            s.f_namemax = 255
            fuse_reply_statfs(request.raw, &s)
        }
    }

    // MARK: Extended attributes

    static func getxattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ name: String, _ size: Int) {
        // ls -l asks for security.selinux and system.posix_acl_access: answered on this thread,
        // without a Task, since the round trip is most of what a listing costs.
        if let errno = StoreFilesystem.xattrAnswer(forForeign: name) {
            fuse_reply_err(req, errno)
            return
        }
        answer(req, "getxattr \(ino) \(name)") { fs, request throws(FSError) in
            let value = try await fs.getxattr(ino, name: name)
            replyXattr(request, value, size)
        }
    }

    static func listxattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ size: Int) {
        answer(req, "listxattr \(ino)") { fs, request throws(FSError) in
            let names = try await fs.listxattr(ino)
            replyXattr(request, names.flatMap { Array($0.utf8) + [0] }, size)
        }
    }

    /// Size 0 asks for the length; a buffer too small is ERANGE.
    static func replyXattr(_ request: Request, _ value: [UInt8], _ size: Int) {
        if size == 0 {
            fuse_reply_xattr(request.raw, value.count)
        } else if value.count > size {
            fuse_reply_err(request.raw, ERANGE)
        } else {
            value.withUnsafeBytes { raw in
                _ = fuse_reply_buf(request.raw, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
            }
        }
    }

    static func setxattr(_ req: fuse_req_t?, _ ino: fuse_ino_t) {
        do throws(FSError) { try FuseContext.of(req).fs.setxattr(ino) } catch { fuse_reply_err(req, error.errno) }
    }
}
