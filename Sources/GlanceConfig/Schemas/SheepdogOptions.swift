/// The last upstream sheepdog driver (glance_store before commit 5c9db72, Train).
public enum SheepdogOptions {
    public static let chunkSizeMiB = Option<Int?>.integer("sheepdog_store_chunk_size", default: 64, min: 1)
    public static let port = Option<Int?>.port("sheepdog_store_port", default: 7000)
    public static let address = Option<String?>.hostAddress("sheepdog_store_address", default: "127.0.0.1")

    /// glance-storefs: seconds to connect to the sheep daemon or wait for an answer.
    public static let timeout = HTTPOptions.timeout

    public static let all: [AnyOption] = [chunkSizeMiB.erased, port.erased, address.erased, timeout.erased]
}
