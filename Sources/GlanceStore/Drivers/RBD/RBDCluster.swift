import CRBD
import Foundation
import GlanceConfig
import Logging
import Synchronization

/// The rbd store's options with Glance's meaning (`gs/_drivers/rbd.py:50-170`).
struct RBDSettings: Sendable {
    var pool = "images"
    /// nil: librados' default user (client.admin). Glance 4.1.0 passes the string 'None' instead,
    /// which only works where a client.None exists; the unset option means the default here.
    var user: String?
    /// nil: librados' default search ($CEPH_CONF, /etc/ceph/ceph.conf, ~/.ceph/config, ./ceph.conf).
    var cephConf: String?
    var connectTimeout: Int = 0
    var chunkSize: UInt64 = 8 << 20
    var thinProvisioning = false

    init(_ definition: StoreDefinition) {
        var scratch = Diagnostics()  // values were type-checked by validation
        let section = definition.section
        pool = section.read(RBDOptions.pool, into: &scratch).value ?? "images"
        user = section.read(RBDOptions.user, into: &scratch).value.flatMap { $0.isEmpty ? nil : $0 }
        cephConf = section.read(RBDOptions.cephConf, into: &scratch).value.flatMap { $0.isEmpty ? nil : $0 }
        connectTimeout = section.read(RBDOptions.connectTimeout, into: &scratch).value ?? 0
        chunkSize = UInt64(section.read(RBDOptions.chunkSizeMiB, into: &scratch).value ?? 8) << 20
        thinProvisioning = section.read(RBDOptions.thinProvisioning, into: &scratch).value
    }

    /// librbd's object order for the chunk size (Glance: int(math.log(chunk_size, 2))).
    var order: Int32 { Int32(UInt64.bitWidth - 1 - chunkSize.leadingZeroBitCount) }
}

/// One cluster connection per store (rados handle + the pool's I/O context), made on first use,
/// kept, and made again after a failure that means the connection is gone. Every librados/librbd
/// call blocks, so they run on BlockingIO threads, never on the Swift concurrency pool.
final class RBDCluster: Sendable {
    let settings: RBDSettings
    let storeID: String
    let logger: Logger
    private let connection = Mutex<Connection?>(nil)

    /// The handles, shared by every thread: librados and librbd are thread-safe on one ioctx.
    final class Connection: @unchecked Sendable {
        let cluster: rados_t
        let ioctx: rados_ioctx_t
        let fsid: String
        init(cluster: rados_t, ioctx: rados_ioctx_t, fsid: String) {
            self.cluster = cluster
            self.ioctx = ioctx
            self.fsid = fsid
        }
        deinit {
            rados_ioctx_destroy(ioctx)
            rados_shutdown(cluster)
        }
    }

    /// Bounds on every monitor and OSD operation: a dead cluster makes calls fail, not hang.
    static let operationTimeout = 30

    init(settings: RBDSettings, storeID: String, logger: Logger) {
        self.settings = settings
        self.storeID = storeID
        self.logger = logger
    }

    /// Runs `body` with the connection on a blocking thread. A failure that means the cluster
    /// went away drops the connection, so the next call connects again.
    func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws(StoreError) -> T) async throws(StoreError) -> T {
        try await BlockingIO.run { [self] () throws(StoreError) -> T in
            let handle = try connected()
            do throws(StoreError) {
                return try body(handle)
            } catch {
                if case .remoteServiceUnavailable = error { connection.withLock { if $0 === handle { $0 = nil } } }
                throw error
            }
        }
    }

    var fsid: String? { connection.withLock { $0?.fsid } }

    private func connected() throws(StoreError) -> Connection {
        if let existing = connection.withLock({ $0 }) { return existing }
        let made = try connect()
        return connection.withLock { current in
            if let current { return current }  // another thread won
            current = made
            return made
        }
    }

    private func connect() throws(StoreError) -> Connection {
        var cluster: rados_t?
        var rc = rados_create(&cluster, settings.user)
        guard rc == 0, let cluster else { throw unavailable("rados_create", rc) }
        var keep = false
        defer { if !keep { rados_shutdown(cluster) } }
        rc = rados_conf_read_file(cluster, settings.cephConf)
        guard rc == 0 else {
            throw .badStoreConfiguration(store: storeID, reason: "cannot read the Ceph configuration \(settings.cephConf ?? "(librados' default search)"): \(Self.text(rc))")
        }
        let mount = settings.connectTimeout > 0 ? settings.connectTimeout : Self.operationTimeout
        for (key, value) in [("client_mount_timeout", mount), ("rados_mon_op_timeout", Self.operationTimeout),
                             ("rados_osd_op_timeout", Self.operationTimeout)] {
            _ = rados_conf_set(cluster, key, String(value))
        }
        // No librbd cache: the kernel's page cache holds what was read, reads are fetched ahead
        // and writes pipelined here; the cache would be one more copy and 32 MiB per open image.
        _ = rados_conf_set(cluster, "rbd_cache", "false")
        // The writer's buffers stay unchanged until librbd completes them: no copy needed.
        _ = rados_conf_set(cluster, "rbd_disable_zero_copy_writes", "false")
        rc = rados_connect(cluster)
        guard rc == 0 else { throw unavailable("connecting to the Ceph cluster", rc) }
        var ioctx: rados_ioctx_t?
        rc = rados_ioctx_create(cluster, settings.pool, &ioctx)
        guard rc == 0, let ioctx else {
            throw rc == -ENOENT ? .badStoreConfiguration(store: storeID, reason: "pool '\(settings.pool)' does not exist")
                                : unavailable("opening pool \(settings.pool)", rc)
        }
        var fsid = [CChar](repeating: 0, count: 64)
        _ = rados_cluster_fsid(cluster, &fsid, fsid.count)
        keep = true
        logger.info("connected to Ceph", metadata: ["store": "\(storeID)", "pool": "\(settings.pool)"])
        return Connection(cluster: cluster, ioctx: ioctx, fsid: String(cString: fsid))
    }

    func unavailable(_ what: String, _ rc: Int32) -> StoreError {
        .remoteServiceUnavailable("rbd store \(storeID): \(what): \(Self.text(rc))")
    }

    static func text(_ rc: Int32) -> String { String(cString: strerror(-rc)) }

    /// A librbd return code as the store error Glance would raise.
    static func error(_ rc: Int32, image: String, _ what: String) -> StoreError {
        switch -rc {
        case ENOENT: .notFound(image: image)
        case EEXIST: .duplicate(image: image)
        case ENOSPC, EDQUOT: .storageFull("\(what): \(text(rc))")
        case EBUSY: .inUseByStore(image: image)
        case ENOTEMPTY: .hasSnapshot(image: image)
        case EACCES, EPERM: .storageWriteDenied("\(what): \(text(rc))")
        case ETIMEDOUT: .timedOut("\(what) of \(image)")
        case ENOTCONN, ESHUTDOWN, ECONNREFUSED, ECONNRESET, EIO: .remoteServiceUnavailable("\(what) of \(image): \(text(rc))")
        default: .io(errno: -rc, "\(what) of \(image)")
        }
    }
}
