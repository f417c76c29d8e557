/// `gs/_drivers/s3.py:50-212`. Glance 4.1.0 has this type; glance-storefs has no driver for it.
public enum S3Options {
    public static let host = Option<String?>.string("s3_store_host")
    public static let accessKey = Option<String?>.string("s3_store_access_key", secret: true)
    public static let secretKey = Option<String?>.string("s3_store_secret_key", secret: true)
    public static let bucket = Option<String?>.string("s3_store_bucket")
    public static let createBucketOnPut = Option<Bool>.bool("s3_store_create_bucket_on_put", default: false)
    public static let bucketURLFormat = Option<String?>.string("s3_store_bucket_url_format", default: "auto")
    public static let largeObjectSizeMiB = Option<Int?>.integer("s3_store_large_object_size", default: 100)
    public static let largeObjectChunkSizeMiB = Option<Int?>.integer("s3_store_large_object_chunk_size", default: 10)
    public static let threadPools = Option<Int?>.integer("s3_store_thread_pools", default: 10)

    public static let all: [AnyOption] = [
        host.erased, accessKey.erased, secretKey.erased, bucket.erased, createBucketOnPut.erased,
        bucketURLFormat.erased, largeObjectSizeMiB.erased, largeObjectChunkSizeMiB.erased, threadPools.erased,
    ]
}
