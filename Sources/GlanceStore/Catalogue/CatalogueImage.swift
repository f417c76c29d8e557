import Foundation

/// One image as Glance's API shows it (`GET /v2/images`), with what an audit and the mount's
/// `user.glance.image.*` attributes need. Missing or null fields stay nil.
public struct CatalogueImage: Sendable, Equatable {
    public struct Location: Sendable, Equatable {
        public let url: String
        /// `metadata.store`: the store id Glance recorded with the location.
        public let store: String?
    }

    public let id: String
    public let name: String?
    public let status: String
    public let size: UInt64?
    public let checksum: String?
    public let osHashAlgo: String?
    public let osHashValue: String?
    public let diskFormat: String?
    public let containerFormat: String?
    public let owner: String?
    public let visibility: String?
    /// `stores` as Glance sends it (comma-joined, in location order), and split.
    public let storesText: String?
    /// nil when Glance does not show locations (`show_multiple_locations` and `show_image_direct_url` off).
    public let locations: [Location]?
    public let hidden: Bool
    /// `os_glance_importing_to_stores`: stores a copy-image or import is (or was, if stale) writing to.
    public let importingToStores: [String]
    public let failedImport: [String]
    public let updatedAt: String?

    /// Every store Glance says holds a copy: `stores`, and the stores of the locations.
    public var stores: [String] {
        var all = Self.split(storesText)
        for store in (locations ?? []).compactMap(\.store) where !all.contains(store) { all.append(store) }
        return all
    }

    public func location(in store: String) -> String? { locations?.first { $0.store == store }?.url }

    /// What the mount shows under `user.glance.image.`: Glance's own values, as its API renders them.
    public var attributes: [(String, String)] {
        let pairs: [(String, String?)] = [
            ("name", name), ("status", status), ("size", size.map(String.init)), ("checksum", checksum),
            ("os_hash_algo", osHashAlgo), ("os_hash_value", osHashValue), ("disk_format", diskFormat),
            ("container_format", containerFormat), ("owner", owner), ("visibility", visibility), ("stores", storesText),
        ]
        return pairs.compactMap { key, value in value.map { (key, $0) } }
    }

    static func split(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// From one entry of `images` in Glance's JSON; nil when it has no id or status.
    init?(json: [String: Any]) {
        guard let id = json["id"] as? String, let status = json["status"] as? String else { return nil }
        func text(_ key: String) -> String? { json[key] as? String }
        self.id = id
        self.status = status
        name = text("name")
        size = (json["size"] as? NSNumber).map { $0.uint64Value }
        checksum = text("checksum")
        osHashAlgo = text("os_hash_algo")
        osHashValue = text("os_hash_value")
        diskFormat = text("disk_format")
        containerFormat = text("container_format")
        owner = text("owner")
        visibility = text("visibility")
        storesText = text("stores")
        if let list = json["locations"] as? [[String: Any]] {
            locations = list.compactMap { entry in
                guard let url = entry["url"] as? String else { return nil }
                return Location(url: url, store: (entry["metadata"] as? [String: Any])?["store"] as? String)
            }
        } else if let direct = text("direct_url") {
            // show_image_direct_url alone: the first location, without its store.
            locations = [Location(url: direct, store: Self.split(text("stores")).first)]
        } else {
            locations = nil
        }
        hidden = (json["os_hidden"] as? Bool) ?? false
        importingToStores = Self.split(text("os_glance_importing_to_stores"))
        failedImport = Self.split(text("os_glance_failed_import"))
        updatedAt = text("updated_at")
    }

    public init(id: String, status: String, size: UInt64? = nil, checksum: String? = nil, osHashAlgo: String? = nil,
                osHashValue: String? = nil, stores: [String] = [], locations: [Location]? = nil,
                importingToStores: [String] = [], name: String? = nil) {
        self.id = id
        self.status = status
        self.size = size
        self.checksum = checksum
        self.osHashAlgo = osHashAlgo
        self.osHashValue = osHashValue
        self.name = name
        diskFormat = nil
        containerFormat = nil
        owner = nil
        visibility = nil
        storesText = stores.isEmpty ? nil : stores.joined(separator: ",")
        self.locations = locations
        hidden = false
        self.importingToStores = importingToStores
        failedImport = []
        updatedAt = nil
    }
}

extension CatalogueImage.Location {
    public init(_ url: String, store: String?) {
        self.url = url
        self.store = store
    }
}

/// A task of an image (`GET /v2/images/ID/tasks`): an import or a copy, running or done.
public struct CatalogueTask: Sendable, Equatable {
    public let id: String
    public let status: String
    public let message: String?
    public var isRunning: Bool { status == "pending" || status == "processing" }
}
