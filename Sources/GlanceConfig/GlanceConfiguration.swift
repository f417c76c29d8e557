/// One store as the configuration defines it.
public struct StoreDefinition: Sendable {
    public let id: String
    public let type: StoreType
    public let isReserved: Bool
    /// `store_description`; nil when unset or empty (Glance omits it then).
    public let description: String?
    /// The store's group (`[<id>]`), for drivers to read their typed options.
    public let section: ConfigSection
    /// The file store's resolved options (file stores and reserved stores only).
    public let file: FileStoreSettings?
    /// The http store's resolved options (http stores only).
    public var http: HTTPStoreSettings? = nil
    /// The swift store's resolved options (swift stores only).
    public var swift: SwiftStoreSettings? = nil
    /// The cinder store's resolved options (cinder stores only).
    public var cinder: CinderStoreSettings? = nil
    /// The vmware store's resolved options (vmware stores only).
    public var vmware: VMwareStoreSettings? = nil
    /// The sheepdog store's resolved options (sheepdog stores only).
    public var sheepdog: SheepdogStoreSettings? = nil
    /// Whether opening the store may tidy it (remove hour-old leftovers of interrupted writes): a
    /// mount does; `audit` reports what it finds and changes nothing.
    public var housekeeping = true
}

/// A configuration that passed validation: the enabled stores in config order, the reserved stores
/// apart, the default store, and the warnings worth showing.
public struct GlanceConfiguration: Sendable {
    public static let reservedStoreIDs = ["os_glance_staging_store", "os_glance_tasks_store"]
    public static let reservedPrefix = "os_glance_"

    public let source: ConfigSource
    public private(set) var stores: [StoreDefinition]
    public private(set) var reserved: [StoreDefinition]
    public let defaultStoreID: String
    public let warnings: [Diagnostic]
    /// How to ask Glance's API what its catalogue records (`[keystone_authtoken]`).
    public var catalogue: CatalogueSettings

    public func store(_ id: String) -> StoreDefinition? { stores.first { $0.id == id } }

    /// The same stores, opened without tidying anything (for `audit`, which only reports).
    public func withoutHousekeeping() -> GlanceConfiguration {
        var copy = self
        for i in copy.stores.indices { copy.stores[i].housekeeping = false }
        for i in copy.reserved.indices { copy.reserved[i].housekeeping = false }
        return copy
    }
    public func reservedStore(_ id: String) -> StoreDefinition? { reserved.first { $0.id == id } }

    public static let enabledBackends = Option<OrderedPairs>.dict("enabled_backends")
    public static let defaultBackend = Option<String?>.string("default_backend")

    /// Every rule of the reference (and the stricter ones of glance-storefs), all problems collected.
    public static func validate(_ source: ConfigSource) -> Result<GlanceConfiguration, ValidationFailure> {
        var d = Diagnostics()
        let defaults = source.section("DEFAULT")
        let fallback = source.fallbackLocation

        // [DEFAULT] enabled_backends
        var pairs: [(id: String, type: String, location: SourceLocation)] = []
        let backendsRaw = defaults.assignments(enabledBackends.name)
        if let last = backendsRaw.last {
            do throws(OptionValueError) {
                let (parsed, glued) = try OptionParsing.dict(last.value)
                for piece in glued {
                    d.error(at: last.location, section: "DEFAULT", option: enabledBackends.name,
                            "'\(piece)' is not an id:type pair (Glance would silently join it to the next pair)")
                }
                if parsed.isEmpty {
                    d.error(at: last.location, section: "DEFAULT", option: enabledBackends.name,
                            "empty: glance-storefs serves Glance multi-store configurations; list the stores as id:type pairs")
                }
                if glued.isEmpty { pairs = parsed.pairs.map { ($0.key, $0.value, last.location) } }
            } catch {
                let message = error.message
                d.error(at: last.location, section: "DEFAULT", option: enabledBackends.name, message)
            }
        } else {
            d.error(at: fallback, section: "DEFAULT", option: enabledBackends.name,
                    "not set: glance-storefs serves Glance multi-store configurations; list the stores as id:type pairs")
        }

        var stores: [StoreDefinition] = []
        var seenGroups: [String: String] = [:]
        for (id, rawType, at) in pairs {
            var ok = true
            if id.hasPrefix(reservedPrefix) {
                d.error(at: at, section: "DEFAULT", option: enabledBackends.name,
                        "store id '\(id)': the 'os_glance_' prefix is reserved for internal use (Glance refuses to start)")
                ok = false
            }
            if id == "." || id == ".." || id.contains("/") || id.contains("\0") {
                d.error(at: at, section: "DEFAULT", option: enabledBackends.name,
                        "store id '\(id)' cannot be a directory name")
                ok = false
            }
            let group = ConfigSource.normalize(section: id)
            if let other = seenGroups[group] {
                d.error(at: at, section: "DEFAULT", option: enabledBackends.name,
                        "store ids '\(other)' and '\(id)' share the section [\(group)] (section names ignore case)")
                ok = false
            }
            seenGroups[group] = id
            guard let type = StoreType(rawValue: rawType) else {
                d.error(at: at, section: "DEFAULT", option: enabledBackends.name,
                        "store '\(id)' has unknown type '\(rawType)'\(typeHint(rawType)) (known: \(StoreType.allCases.map(\.rawValue).joined(separator: ", ")))")
                continue
            }
            guard ok else { continue }
            stores.append(define(id: id, type: type, reserved: false, source: source, declaredAt: at, diagnostics: &d))
        }

        let reserved = reservedStoreIDs.map { define(id: $0, type: .file, reserved: true, source: source, declaredAt: fallback, diagnostics: &d) }

        // [glance_store] default_backend
        let glanceStore = source.section("glance_store")
        let defaultRead = glanceStore.read(defaultBackend, into: &d)
        let defaultID = defaultRead.value ?? ""
        let defaultAt = defaultRead.location ?? fallback
        if defaultID.isEmpty {
            d.error(at: defaultAt, section: "glance_store", option: defaultBackend.name,
                    "not set: name one of the stores of enabled_backends")
        } else if reservedStoreIDs.contains(defaultID) {
            d.error(at: defaultAt, section: "glance_store", option: defaultBackend.name,
                    "'\(defaultID)' is a reserved store; name one of the stores of enabled_backends")
        } else if !pairs.isEmpty, !pairs.contains(where: { $0.id == defaultID }) {
            d.error(at: defaultAt, section: "glance_store", option: defaultBackend.name,
                    "'\(defaultID)' is not one of enabled_backends (\(pairs.map(\.id).joined(separator: ", ")))")
        } else if stores.first(where: { $0.id == defaultID })?.type == .http {
            d.warning(at: defaultAt, section: "glance_store", option: defaultBackend.name,
                      "'\(defaultID)' is a read-only http store; Glance refuses uploads without an explicit store")
        }

        // At most one http store (the multi-store documentation: "not supported").
        let httpStores = stores.filter { $0.type == .http }
        if httpStores.count > 1 {
            d.error(at: pairs.first { $0.id == httpStores[1].id }!.location, section: "DEFAULT",
                    option: enabledBackends.name,
                    "more than one http store (\(httpStores.map(\.id).joined(separator: ", "))): Glance supports only one")
        }

        checkDatadirOverlap(stores + reserved, diagnostics: &d)
        let catalogue = CatalogueSettings.resolve(source, diagnostics: &d)

        if d.hasErrors { return .failure(ValidationFailure(diagnostics: d.all)) }
        return .success(GlanceConfiguration(source: source, stores: stores, reserved: reserved,
                                            defaultStoreID: defaultID, warnings: d.warnings, catalogue: catalogue))
    }

    private static func typeHint(_ raw: String) -> String {
        if let t = StoreType(rawValue: raw.lowercased()) { return "; types are case-sensitive: did you mean '\(t.rawValue)'?" }
        if raw.hasPrefix("glance.store.") { return "; Glance cannot use the legacy class names by id in multi-store" }
        if let t = StoreType.allCases.first(where: { $0.rawValue.contains(raw) && !raw.isEmpty }) {
            return "; did you mean '\(t.rawValue)'?"
        }
        return ""
    }

    private static func define(id: String, type: StoreType, reserved: Bool, source: ConfigSource,
                               declaredAt: SourceLocation, diagnostics d: inout Diagnostics) -> StoreDefinition {
        let section = source.section(id)
        let schema = type.schema
        // Every option of the store's schema must have a valid value, even ones Glance reads lazily.
        for option in schema {
            let raw = section.rawAssignments(option.name, deprecatedNames: option.deprecatedNames)
            guard let last = raw.last else { continue }
            do throws(OptionValueError) { try option.check(raw.map(\.value)) } catch {
                let message = error.message
                d.error(at: last.location, section: id, option: option.name, option.isSecret ? "invalid value" : message)
            }
        }
        // Options no store of this type reads: Glance ignores them silently, which hides typos.
        let known = Set(schema.flatMap { [$0.name] + $0.deprecatedNames })
        for key in section.keys where !known.contains(key) {
            d.warning(at: section.assignments(key).last!.location, section: id, option: key,
                      "not an option of a \(type.rawValue) store; ignored")
        }
        var scratch = Diagnostics()  // values were checked above; read them without double reports
        let description = section.read(StoreType.storeDescription, into: &scratch).value.flatMap { $0.isEmpty ? nil : $0 }
        var file: FileStoreSettings?
        if type == .file {
            let defaultDir = reserved ? "/var/lib/glance/\(id)" : FileOptions.defaultDatadir
            file = FileStoreSettings.resolve(section: section, defaultDatadir: defaultDir, diagnostics: &d)
        }
        var definition = StoreDefinition(id: id, type: type, isReserved: reserved, description: description,
                                         section: section, file: file)
        if type == .http {
            definition.http = HTTPStoreSettings.resolve(section: section, storeID: id, declaredAt: declaredAt, diagnostics: &d)
        }
        if type == .swift {
            definition.swift = SwiftStoreSettings.resolve(section: section, storeID: id, declaredAt: declaredAt, diagnostics: &d)
        }
        if type == .cinder {
            definition.cinder = CinderStoreSettings.resolve(section: section, storeID: id, declaredAt: declaredAt, diagnostics: &d)
        }
        if type == .sheepdog { definition.sheepdog = SheepdogStoreSettings.resolve(section: section) }
        if type == .vmware {
            definition.vmware = VMwareStoreSettings.resolve(section: section, storeID: id, declaredAt: declaredAt, diagnostics: &d)
        }
        return definition
    }

    /// Two file stores on one directory, or one nested in another's, let one store see (and delete)
    /// the other's images: "unsupported and may lead to data loss".
    private static func checkDatadirOverlap(_ stores: [StoreDefinition], diagnostics d: inout Diagnostics) {
        var seen: [(store: String, dir: FileStoreSettings.DataDirectory, option: String)] = []
        for store in stores {
            guard let file = store.file else { continue }
            let option = file.usesDatadirs ? FileOptions.datadirs.name : FileOptions.datadir.name
            for dir in file.directories {
                for earlier in seen where earlier.store != store.id {
                    let a = PathOverlap.normalize(dir.path), b = PathOverlap.normalize(earlier.dir.path)
                    let relation: String? = a == b ? "is also the datadir of store '\(earlier.store)'"
                        : PathOverlap.isInside(a, b) ? "is inside \(earlier.dir.path), the datadir of store '\(earlier.store)'"
                        : PathOverlap.isInside(b, a) ? "contains \(earlier.dir.path), the datadir of store '\(earlier.store)'"
                        : nil
                    if let relation {
                        d.error(at: dir.location, section: store.id, option: option,
                                "\(dir.path) \(relation); stores must not share directories (data loss)")
                    }
                }
                seen.append((store.id, dir, option))
            }
        }
    }
}

/// Validation found errors; every one of them, in the order found.
public struct ValidationFailure: Error, Sendable {
    public let diagnostics: [Diagnostic]
    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
}
