/// `gs/_drivers/filesystem.py:45-191`.
public enum FileOptions {
    public static let defaultDatadir = "/var/lib/glance/images"
    public static let datadir = Option<String?>.string("filesystem_store_datadir", default: defaultDatadir)
    public static let datadirs = Option<[String]?>.multiString("filesystem_store_datadirs")
    public static let metadataFile = Option<String?>.string("filesystem_store_metadata_file")
    public static let filePerm = Option<Int?>.integer("filesystem_store_file_perm", default: 0)
    public static let chunkSize = Option<Int?>.integer("filesystem_store_chunk_size", default: 65536, min: 1)
    public static let thinProvisioning = Option<Bool>.bool("filesystem_thin_provisioning", default: false)

    public static let all: [AnyOption] = [
        datadir.erased, datadirs.erased, metadataFile.erased, filePerm.erased, chunkSize.erased,
        thinProvisioning.erased,
    ]
}
