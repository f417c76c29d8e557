import GlanceConfig
import Logging

/// The stores of a validated configuration, opened: the enabled ones in config order (what the mount
/// shows), the reserved ones apart (used internally, never listed), and the default store id.
public final class StoreRegistry: Sendable {
    public let stores: [any Store]
    /// Enabled stores whose type has no driver in this build; listed by `check`, absent from the mount.
    public let unavailable: [(id: String, type: StoreType)]
    public let reserved: [String: FileStore]
    public let defaultStoreID: String

    public func store(_ id: String) -> (any Store)? { stores.first { $0.id == id } }

    /// Types with a driver. A later driver registers here and nowhere else.
    public static let drivers: [StoreType: @Sendable (StoreDefinition, Logger) throws(StoreError) -> any Store] = [
        .file: { definition, logger throws(StoreError) in try FileStore(definition: definition, logger: logger) },
        .http: { definition, logger throws(StoreError) in try HTTPStore(definition: definition, logger: logger) },
        .rbd: { definition, logger throws(StoreError) in try RBDStore(definition: definition, logger: logger) },
        .swift: { definition, logger throws(StoreError) in try SwiftStore(definition: definition, logger: logger) },
        .cinder: { definition, logger throws(StoreError) in try CinderStore(definition: definition, logger: logger) },
        .vmware: { definition, logger throws(StoreError) in try VMwareStore(definition: definition, logger: logger) },
        .sheepdog: { definition, logger throws(StoreError) in try SheepdogStore(definition: definition, logger: logger) },
    ]

    public init(configuration: GlanceConfiguration, logger: Logger) throws(StoreError) {
        var stores: [any Store] = []
        var unavailable: [(String, StoreType)] = []
        for definition in configuration.stores {
            guard let open = Self.drivers[definition.type] else {
                unavailable.append((definition.id, definition.type))
                logger.warning("no driver for this store type in this build; the store is not mounted",
                               metadata: ["store": "\(definition.id)", "type": "\(definition.type.rawValue)"])
                continue
            }
            stores.append(try open(definition, logger))
        }
        var reserved: [String: FileStore] = [:]
        for definition in configuration.reserved {
            reserved[definition.id] = try FileStore(definition: definition, logger: logger)
        }
        self.stores = stores
        self.unavailable = unavailable
        self.reserved = reserved
        self.defaultStoreID = configuration.defaultStoreID
    }
}
