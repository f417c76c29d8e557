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
    /// `storefs_timeout`: the bound of every monitor and OSD operation.
    var timeout = 10
    /// Monitors given by someone else (a Cinder attachment's `hosts`/`ports`), over the conf's.
    var monitors: String?

    /// A cluster a Cinder attachment names: its monitors and user; keys found as librados finds them.
    init(pool: String, user: String?, monitors: String?, timeout: Int) {
        self.pool = pool
        self.user = user
        self.monitors = monitors
        self.timeout = timeout
    }

    init(_ definition: StoreDefinition) {
        var scratch = Diagnostics()  // values were type-checked by validation
        let section = definition.section
        pool = section.read(RBDOptions.pool, into: &scratch).value ?? "images"
        user = section.read(RBDOptions.user, into: &scratch).value.flatMap { $0.isEmpty ? nil : $0 }
        cephConf = section.read(RBDOptions.cephConf, into: &scratch).value.flatMap { $0.isEmpty ? nil : $0 }
        connectTimeout = section.read(RBDOptions.connectTimeout, into: &scratch).value ?? 0
        chunkSize = UInt64(section.read(RBDOptions.chunkSizeMiB, into: &scratch).value ?? 8) << 20
        thinProvisioning = section.read(RBDOptions.thinProvisioning, into: &scratch).value
        timeout = section.read(RBDOptions.timeout, into: &scratch).value ?? 10
    }

    /// librbd's object order for the chunk size (Glance: int(math.log(chunk_size, 2))).
    var order: Int32 { Int32(UInt64.bitWidth - 1 - chunkSize.leadingZeroBitCount) }
}

/// One cluster connection per store (rados handle + the pool's I/O context), made on first use,
/// kept, and made again after a failure that means the connection is gone. Every librados/librbd
/// call blocks, so they run on BlockingIO threads, never on the Swift concurrency pool. Every
/// operation is bounded by `storefs_timeout`; one that got no answer marks the cluster down in
/// `health`, and the store's calls fail at once until the probe reaches the pool again.
final class RBDCluster: Sendable {
    let settings: RBDSettings
    let storeID: String
    let logger: Logger
    private let connection = Mutex<Connection?>(nil)
    private let healthBox = Mutex<BackendHealth?>(nil)
    var health: BackendHealth { healthBox.withLock { $0! } }

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

    init(settings: RBDSettings, storeID: String, logger: Logger) {
        self.settings = settings
        self.storeID = storeID
        self.logger = logger
        let health = BackendHealth(backend: "rbd store \(storeID)", logger: logger) { [weak self] in
            await self?.answers() ?? false
        }
        healthBox.withLock { $0 = health }
    }

    /// Runs `body` with the connection on a blocking thread, at once a failure while the cluster
    /// is known to be down. A failure that means the cluster went away drops the connection, so
    /// the next call connects again.
    func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws(StoreError) -> T) async throws(StoreError) -> T {
        try await health.guarded { () throws(StoreError) -> T in try await runUnguarded(body) }
    }

    /// `run` for a monitor-only request (usage figures): a monitor that does not answer fails it,
    /// but says nothing of the OSDs, which serve the images without the monitors for a while.
    func runOnMonitors<T: Sendable>(_ body: @escaping @Sendable (Connection) throws(StoreError) -> T) async throws(StoreError) -> T {
        try health.check()
        return try await runUnguarded(body)
    }

    private func runUnguarded<T: Sendable>(_ body: @escaping @Sendable (Connection) throws(StoreError) -> T) async throws(StoreError) -> T {
        try await BlockingIO.run { [self] () throws(StoreError) -> T in
            let handle = try connected()
            do throws(StoreError) {
                return try body(handle)
            } catch {
                switch error {
                case .unreachable, .remoteServiceUnavailable: connection.withLock { if $0 === handle { $0 = nil } }
                default: break
                }
                throw error
            }
        }
    }

    /// The probe of a cluster marked down: the latest OSD map from the monitors, then the pool's
    /// directory object stat'ed once (connecting first if the connection was dropped). The map
    /// matters: an OSD that was killed comes back at another address, which a client waiting on
    /// the old one learns only from a map it asks for.
    private func answers() async -> Bool {
        do throws(StoreError) {
            try await BlockingIO.run { [self] () throws(StoreError) in
                let c = try connected()
                _ = rados_wait_for_latest_osdmap(c.cluster)
                var size: UInt64 = 0
                var mtime: time_t = 0
                let rc = rados_stat(c.ioctx, "rbd_directory", &size, &mtime)
                guard rc == 0 || rc == -ENOENT else { throw RBDCluster.error(rc, image: "rbd_directory", "probing") }
            }
            return true
        } catch {
            return false
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
        if let monitors = settings.monitors {
            // No conf file is needed when the monitors are known (its keyring setting, if any, is used).
            _ = rados_conf_set(cluster, "mon_host", monitors)
            rc = 0
            // Without a key librados would wait out the mount timeout and say only "timed out".
            if let missing = Self.missingKeyring(cluster) {
                throw .forbidden("rbd store \(storeID): no key for client.\(settings.user ?? "admin"): librados looked in \(missing) (put it in /etc/ceph/ceph.client.\(settings.user ?? "admin").keyring, where os-brick looks, or name a ceph.conf with a keyring setting in $CEPH_CONF)")
            }
        }
        guard rc == 0 else {
            throw .badStoreConfiguration(store: storeID, reason: "cannot read the Ceph configuration \(settings.cephConf ?? "(librados' default search)"): \(Self.text(rc))")
        }
        // Bounds on every monitor and OSD operation: a dead cluster makes calls fail, not hang.
        let mount = settings.connectTimeout > 0 ? settings.connectTimeout : settings.timeout
        for (key, value) in [("client_mount_timeout", mount), ("rados_mon_op_timeout", settings.timeout),
                             ("rados_osd_op_timeout", settings.timeout)] {
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
        // Writes to a pool over its quota (or a full cluster) fail with EDQUOT (ENOSPC) instead of
        // waiting, unanswered, for room that may never come; deletes, which make room, go through.
        rados_set_pool_full_try(ioctx)
        var fsid = [CChar](repeating: 0, count: 64)
        _ = rados_cluster_fsid(cluster, &fsid, fsid.count)
        keep = true
        logger.info("connected to Ceph", metadata: ["store": "\(storeID)", "pool": "\(settings.pool)"])
        return Connection(cluster: cluster, ioctx: ioctx, fsid: String(cString: fsid))
    }

    /// A failure to reach the cluster: no answer (timed out, refused), or an answer that says no
    /// (a key the cluster does not know: the cluster is there, the store cannot use it).
    func unavailable(_ what: String, _ rc: Int32) -> StoreError {
        let text = "rbd store \(storeID): \(what): \(Self.text(rc))"
        switch -rc {
        case ETIMEDOUT, ECONNREFUSED, ECONNRESET, ENOTCONN, ESHUTDOWN, EHOSTUNREACH, ENETUNREACH: return .unreachable(text)
        default: return .remoteServiceUnavailable(text)
        }
    }

    static func text(_ rc: Int32) -> String { String(cString: strerror(-rc)) }

    /// The keyring files librados would read (its `keyring` setting, expanded), when none exists and
    /// no `key` is set; nil when a key can be found.
    static func missingKeyring(_ cluster: rados_t) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        if rados_conf_get(cluster, "key", &buffer, buffer.count) == 0, buffer[0] != 0 { return nil }
        guard rados_conf_get(cluster, "keyring", &buffer, buffer.count) == 0 else { return nil }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let paths = text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == ";" }).map(String.init)
        guard !paths.isEmpty, !paths.contains(where: { FileManager.default.fileExists(atPath: $0) }) else { return nil }
        return paths.joined(separator: ", ")
    }

    /// A librbd return code as the store error Glance would raise.
    static func error(_ rc: Int32, image: String, _ what: String) -> StoreError {
        switch -rc {
        case ENOENT: .notFound(image: image)
        case EEXIST: .duplicate(image: image)
        case ENOSPC: .storageFull("\(what): \(text(rc))")
        case EDQUOT: .storageQuotaFull("\(what): \(text(rc))")
        case EBUSY: .inUseByStore(image: image)
        case ENOTEMPTY: .hasSnapshot(image: image)
        case EACCES, EPERM: .storageWriteDenied("\(what): \(text(rc))")
        case ETIMEDOUT: .timedOut("\(what) of \(image)")
        case ENOTCONN, ESHUTDOWN, ECONNREFUSED, ECONNRESET: .unreachable("\(what) of \(image): \(text(rc))")
        case EIO: .remoteServiceUnavailable("\(what) of \(image): \(text(rc))")
        default: .io(errno: -rc, "\(what) of \(image)")
        }
    }
}
