/// A sheepdog store's options, with Glance's meaning (glance_store's `_drivers/sheepdog.py` before
/// its removal): the sheep daemon's address and port, and the chunk Glance read and wrote in.
public struct SheepdogStoreSettings: Sendable, Equatable {
    public var address: String
    public var port: Int
    /// `sheepdog_store_chunk_size`, in bytes (the option is in MiB): the size of reads ahead.
    public var chunkSize: UInt64
    /// `storefs_timeout` (ours): seconds to connect or wait for an answer before a request fails.
    public var timeout: Double
}

extension SheepdogStoreSettings {
    static func resolve(section: ConfigSection) -> SheepdogStoreSettings {
        var scratch = Diagnostics()  // values were type-checked already
        func read<V>(_ option: Option<V>) -> Resolved<V> { section.read(option, into: &scratch) }
        return SheepdogStoreSettings(
            address: read(SheepdogOptions.address).value ?? "127.0.0.1",
            port: read(SheepdogOptions.port).value ?? 7000,
            chunkSize: UInt64(read(SheepdogOptions.chunkSizeMiB).value ?? 64) << 20,
            timeout: Double(read(SheepdogOptions.timeout).value ?? 10))
    }
}
