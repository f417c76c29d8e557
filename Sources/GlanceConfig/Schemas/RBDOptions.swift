/// `gs/_drivers/rbd.py:50-170`.
public enum RBDOptions {
    public static let chunkSizeMiB = Option<Int?>.integer("rbd_store_chunk_size", default: 8, min: 1)
    public static let pool = Option<String?>.string("rbd_store_pool", default: "images")
    public static let user = Option<String?>.string("rbd_store_user")
    public static let cephConf = Option<String?>.string("rbd_store_ceph_conf", default: "")
    public static let connectTimeout = Option<Int?>.integer("rados_connect_timeout", default: 0)
    public static let thinProvisioning = Option<Bool>.bool("rbd_thin_provisioning", default: false)
    /// glance-storefs: seconds a monitor or OSD operation may take before it fails with EIO (and
    /// connecting, when `rados_connect_timeout` is 0). Glance's own driver waits as long as librados does.
    public static let timeout = HTTPOptions.timeout

    public static let all: [AnyOption] = [
        chunkSizeMiB.erased, pool.erased, user.erased, cephConf.erased, connectTimeout.erased,
        thinProvisioning.erased, timeout.erased,
    ]
}
