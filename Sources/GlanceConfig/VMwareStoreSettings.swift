import Foundation

/// A vmware store's options, resolved with Glance's meaning (`gs/_drivers/vmware_datastore.py`): the
/// vCenter (or ESX) to log in to, and the datastores the images live on.
public struct VMwareStoreSettings: Sendable, Equatable {
    /// `vmware_server_host` as configured: a host, or (ours) `host:port`.
    public var host: String
    public var username: String
    public var password: String
    /// `vmware_api_retry_count`: tries of a call that got no answer, or was refused for a lost session.
    public var retryCount: Int
    /// `vmware_task_poll_interval`: seconds between two looks at a running task, at most.
    public var taskPollInterval: Int
    /// `vmware_store_image_dir` without its surrounding '/': the folder of every datastore's images.
    public var imageDirectory: String
    public var insecure: Bool
    public var caFile: String?
    public var datastores: [Datastore]
    /// `storefs_timeout` (ours): seconds to connect or wait for an answer before a try fails.
    public var timeout: Double

    /// One `vmware_datastores` entry: `datacenter_path:datastore_name[:weight]`.
    public struct Datastore: Sendable, Equatable {
        public var datacenterPath: String
        public var name: String
        public var weight: Int
        public init(datacenterPath: String, name: String, weight: Int) {
            self.datacenterPath = datacenterPath
            self.name = name
            self.weight = weight
        }
    }
}

extension VMwareStoreSettings {
    static func resolve(section: ConfigSection, storeID: String, declaredAt: SourceLocation,
                        diagnostics d: inout Diagnostics) -> VMwareStoreSettings {
        var scratch = Diagnostics()  // values were type-checked already
        func read<V>(_ option: Option<V>) -> Resolved<V> { section.read(option, into: &scratch) }
        func at<V>(_ r: Resolved<V>) -> SourceLocation { r.location ?? declaredAt }
        func text(_ option: Option<String?>) -> String? { read(option).value.flatMap { $0.isEmpty ? nil : $0 } }

        // Glance's `_option_get`: these are needed to log in at all.
        let required = [VMwareOptions.serverHost, VMwareOptions.serverUsername, VMwareOptions.serverPassword]
        let missing = required.filter { text($0) == nil }.map(\.name)
        if !missing.isEmpty {
            d.error(at: declaredAt, section: storeID, option: missing[0],
                    "not set: the store logs in to vCenter with \(required.map(\.name).joined(separator: ", ")) (missing: \(missing.joined(separator: ", ")))")
        }
        let entries = read(VMwareOptions.datastores)
        var datastores: [Datastore] = []
        for entry in entries.value ?? [] {
            switch Self.parseDatastore(entry) {
            case .success(let datastore):
                if datastores.contains(where: { $0.datacenterPath == datastore.datacenterPath && $0.name == datastore.name }) {
                    d.error(at: at(entries), section: storeID, option: VMwareOptions.datastores.name,
                            "'\(entry)': datastore \(datastore.name) of \(datastore.datacenterPath) is listed twice")
                }
                datastores.append(datastore)
            case .failure(let problem):
                d.error(at: at(entries), section: storeID, option: VMwareOptions.datastores.name, "'\(entry)': \(problem.message)")
            }
        }
        if (entries.value ?? []).isEmpty {
            d.error(at: at(entries), section: storeID, option: VMwareOptions.datastores.name,
                    "not set: the store's images live on the datastores it names (datacenter_path:datastore_name[:weight], one per line)")
        }
        let ca = read(VMwareOptions.caFile)
        if let file = ca.value, !file.isEmpty, !FileManager.default.isReadableFile(atPath: file) {
            d.error(at: at(ca), section: storeID, option: VMwareOptions.caFile.name, "cannot read '\(file)'")
        }
        let directory = (read(VMwareOptions.storeImageDir).value ?? "/openstack_glance")
            .trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        return VMwareStoreSettings(
            host: text(VMwareOptions.serverHost) ?? "",
            username: text(VMwareOptions.serverUsername) ?? "",
            password: text(VMwareOptions.serverPassword) ?? "",
            retryCount: read(VMwareOptions.apiRetryCount).value ?? 10,
            taskPollInterval: read(VMwareOptions.taskPollInterval).value ?? 5,
            imageDirectory: directory,
            insecure: read(VMwareOptions.insecure).value,
            caFile: text(VMwareOptions.caFile),
            datastores: datastores,
            timeout: Double(read(VMwareOptions.timeout).value ?? 10))
    }

    public struct DatastoreProblem: Error, Equatable { public let message: String }

    /// Glance's `_parse_datastore_info_and_weight`: split from the right at most twice (a datacenter
    /// path may hold ':'), the weight digits only, 0 when absent or empty.
    public static func parseDatastore(_ entry: String) -> Result<Datastore, DatastoreProblem> {
        var parts: [String] = []
        var rest = Substring(entry)
        while parts.count < 2, let colon = rest.lastIndex(of: ":") {
            parts.insert(String(rest[rest.index(after: colon)...]), at: 0)
            rest = rest[..<colon]
        }
        parts.insert(String(rest), at: 0)
        parts = parts.map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count >= 2 else {
            return .failure(DatastoreProblem(message: "must be datacenter_path:datastore_name:weight or datacenter_path:datastore_name"))
        }
        var weight = 0
        if parts.count == 3, !parts[2].isEmpty {
            guard parts[2].allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(parts[2]) else {
                return .failure(DatastoreProblem(message: "invalid weight '\(parts[2])' (digits only)"))
            }
            weight = value
        }
        guard !parts[0].isEmpty, !parts[1].isEmpty else {
            return .failure(DatastoreProblem(message: "empty datacenter_path or datastore_name"))
        }
        return .success(Datastore(datacenterPath: parts[0], name: parts[1], weight: weight))
    }
}
