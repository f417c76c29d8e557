import Foundation
import StoreFormats

/// What the store reads of one Cinder volume (`GET /volumes/detail`).
struct CinderVolume: Sendable, Equatable {
    let id: String
    let name: String
    let status: String
    /// GiB.
    let size: UInt64
    let volumeType: String?
    let metadata: [String: String]
    let createdAt: Timestamp?
    let updatedAt: Timestamp?
    let attachmentCount: Int

    /// Glance's volume name for an image: `image-<id>`.
    static let namePrefix = "image-"
    /// A volume being written by a mount: `storefs-partial-<image>.<random>`, renamed when complete.
    static let partialPrefix = "storefs-partial-"
    /// utimens' time, "seconds.nanoseconds" (Glance keeps none: rsync -a needs it).
    static let mtimeKey = "storefs_mtime"
    static let gib: UInt64 = 1 << 30

    /// The image (file) name, when this is an image's volume.
    var imageName: String? {
        guard name.hasPrefix(Self.namePrefix) else { return nil }
        return String(name.dropFirst(Self.namePrefix.count))
    }

    /// The image's bytes: Glance's `image_size`, else the whole volume.
    var imageSize: UInt64 {
        if let text = metadata["image_size"], let size = UInt64(text), size <= self.size * Self.gib { return size }
        return size * Self.gib
    }

    var modificationTime: Timestamp {
        metadata[Self.mtimeKey].flatMap(Self.parseTime) ?? updatedAt ?? createdAt ?? Timestamp(seconds: 0, nanoseconds: 0)
    }

    /// Statuses whose volume has no usable data (yet, or any more): left out of listings.
    static let hiddenStatuses: Set<String> = ["creating", "deleting", "error", "error_deleting", "error_restoring",
                                              "error_extending", "error_managing", "downloading", "awaiting-transfer"]
    var isListed: Bool { !Self.hiddenStatuses.contains(status) }

    static func parseTime(_ text: String) -> Timestamp? {
        let parts = text.split(separator: ".")
        guard parts.count == 2, let seconds = Int64(parts[0]), let nanoseconds = Int32(parts[1]) else { return nil }
        return Timestamp(seconds: seconds, nanoseconds: nanoseconds)
    }

    init?(json: [String: Any]) {
        guard let id = json["id"] as? String, let status = json["status"] as? String else { return nil }
        self.id = id
        name = json["name"] as? String ?? ""
        self.status = status
        size = (json["size"] as? NSNumber)?.uint64Value ?? 0
        volumeType = json["volume_type"] as? String
        var metadata: [String: String] = [:]
        for (key, value) in (json["metadata"] as? [String: Any]) ?? [:] { metadata[key] = "\(value)" }
        self.metadata = metadata
        createdAt = (json["created_at"] as? String).flatMap(SwiftListing.parseListingTime)
        updatedAt = (json["updated_at"] as? String).flatMap(SwiftListing.parseListingTime)
        attachmentCount = (json["attachments"] as? [Any])?.count ?? 0
    }
}

/// An attachment's `connection_info`: how to reach the volume's bytes.
struct VolumeConnection: Sendable, Equatable {
    let driverVolumeType: String
    /// rbd: `pool/volume-<id>`; nfs: `volume-<id>`.
    let name: String
    /// rbd: monitors.
    let hosts: [String]
    let ports: [String]
    let authUsername: String?
    /// nfs: `host:/path`.
    let export: String?
    /// nfs: `raw` or `qcow2` (the bytes of a qcow2 file are not the image's).
    let format: String?
    let encrypted: Bool

    init(json: [String: Any]) {
        driverVolumeType = json["driver_volume_type"] as? String ?? ""
        name = json["name"] as? String ?? ""
        hosts = ((json["hosts"] as? [Any]) ?? []).map { "\($0)" }
        ports = ((json["ports"] as? [Any]) ?? []).map { "\($0)" }
        authUsername = json["auth_username"] as? String
        export = json["export"] as? String
        format = json["format"] as? String
        encrypted = (json["encrypted"] as? Bool) ?? false
    }
}
