/// `gs/_drivers/swift/store.py:56-478`, `swift/utils.py:24-99`, `swift/buffered.py:26-50`.
public enum SwiftOptions {
    /// Glance's "MB" for swift sizes (`ONE_MB = 1000 * 1024`).
    public static let megabyte = 1_024_000

    public static let authInsecure = Option<Bool>.bool("swift_store_auth_insecure", default: false)
    public static let cacert = Option<String?>.string("swift_store_cacert")
    public static let region = Option<String?>.string("swift_store_region")
    public static let endpoint = Option<String?>.string("swift_store_endpoint")
    public static let endpointType = Option<String?>.string(
        "swift_store_endpoint_type", default: "publicURL", choices: ["publicURL", "adminURL", "internalURL"])
    public static let serviceType = Option<String?>.string("swift_store_service_type", default: "object-store")
    public static let container = Option<String?>.string("swift_store_container", default: "glance")
    public static let largeObjectSizeMB = Option<Int?>.integer("swift_store_large_object_size", default: 5120, min: 1)
    public static let largeObjectChunkSizeMB = Option<Int?>.integer(
        "swift_store_large_object_chunk_size", default: 200, min: 1)
    public static let createContainerOnPut = Option<Bool>.bool("swift_store_create_container_on_put", default: false)
    public static let multiTenant = Option<Bool>.bool("swift_store_multi_tenant", default: false)
    public static let multipleContainersSeed = Option<Int?>.integer(
        "swift_store_multiple_containers_seed", default: 0, min: 0, max: 32)
    public static let adminTenants = Option<[String]>.list("swift_store_admin_tenants")
    public static let sslCompression = Option<Bool>.bool("swift_store_ssl_compression", default: true)
    public static let retryGetCount = Option<Int?>.integer("swift_store_retry_get_count", default: 0, min: 0)
    public static let expireSoonInterval = Option<Int?>.integer("swift_store_expire_soon_interval", default: 60, min: 0)
    public static let useTrusts = Option<Bool>.bool("swift_store_use_trusts", default: true)
    public static let bufferOnUpload = Option<Bool>.bool("swift_buffer_on_upload", default: false)
    public static let defaultReference = Option<String?>.string("default_swift_reference", default: "ref1")
    public static let authVersion = Option<String?>.string("swift_store_auth_version", default: "2")
    public static let authAddress = Option<String?>.string("swift_store_auth_address")
    public static let user = Option<String?>.string("swift_store_user", secret: true)
    public static let key = Option<String?>.string("swift_store_key", secret: true)
    public static let configFile = Option<String?>.string("swift_store_config_file")
    public static let uploadBufferDir = Option<String?>.string("swift_upload_buffer_dir")
    /// glance-storefs: seconds to connect, or to wait for data, before a try fails.
    public static let timeout = HTTPOptions.timeout

    public static let all: [AnyOption] = [
        authInsecure.erased, cacert.erased, region.erased, endpoint.erased, endpointType.erased,
        serviceType.erased, container.erased, largeObjectSizeMB.erased, largeObjectChunkSizeMB.erased,
        createContainerOnPut.erased, multiTenant.erased, multipleContainersSeed.erased, adminTenants.erased,
        sslCompression.erased, retryGetCount.erased, expireSoonInterval.erased, useTrusts.erased,
        bufferOnUpload.erased, defaultReference.erased, authVersion.erased, authAddress.erased, user.erased,
        key.erased, configFile.erased, uploadBufferDir.erased, timeout.erased,
    ]
}
