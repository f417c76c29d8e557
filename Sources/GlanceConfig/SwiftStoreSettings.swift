import Foundation

/// A swift store's options, resolved with Glance's meaning (`swift/store.py`, `swift/utils.py`):
/// the account reference in use with its credentials, where the images are and how large ones are cut.
public struct SwiftStoreSettings: Sendable, Equatable {
    /// The account reference (`default_swift_reference`): the `<ref>` of `swift+config://` locations.
    public var reference: String
    /// References come from `swift_store_config_file` (locations are `swift+config://`, no credentials).
    public var usesConfigFile: Bool
    public var credentials: SwiftCredentials
    /// `swift_store_endpoint`: the storage URL to use instead of the catalog's (swiftclient's preauthurl).
    public var endpoint: String?
    public var region: String?
    public var endpointType: String
    public var serviceType: String
    public var insecure: Bool
    public var caCertificate: String?
    public var container: String
    /// `swift_store_multiple_containers_seed`: 0 = one container; N = `<container>_<first N chars of the id>`.
    public var containerSeed: Int
    public var createContainerOnPut: Bool
    /// Bytes (Glance's unit is 1,024,000 bytes).
    public var largeObjectSize: UInt64
    public var largeObjectChunkSize: UInt64
    /// `storefs_timeout` (ours): seconds to connect or wait for data before a try fails.
    public var timeout: Double
}

/// Who the store authenticates as. `description` shows neither the key nor the user (Glance marks
/// both secret).
public struct SwiftCredentials: Sendable, Equatable, CustomStringConvertible {
    public var authAddress: String
    /// "1", "2" or "3" (Glance accepts "2.0"/"3.0" through swiftclient: normalized here).
    public var authVersion: String
    /// As configured: `account:user` (v1) or `project:user` (v2/v3).
    public var user: String
    public var key: String
    public var userDomainID: String?
    public var userDomainName: String?
    public var projectDomainID: String?
    public var projectDomainName: String?

    public var description: String { "\(authAddress) (auth v\(authVersion))" }
}

extension SwiftStoreSettings {
    static func resolve(section: ConfigSection, storeID: String, declaredAt: SourceLocation,
                        diagnostics d: inout Diagnostics) -> SwiftStoreSettings {
        var scratch = Diagnostics()  // values were type-checked already
        func read<V>(_ option: Option<V>) -> Resolved<V> { section.read(option, into: &scratch) }
        func at<V>(_ r: Resolved<V>) -> SourceLocation { r.location ?? declaredAt }

        let multiTenant = read(SwiftOptions.multiTenant)
        if multiTenant.value {
            d.error(at: at(multiTenant), section: storeID, option: SwiftOptions.multiTenant.name,
                    "true: images live in each user's own account, which only a request with a user's token reaches; a mount has no such context (set it to False for the mount)")
        }
        let reference = read(SwiftOptions.defaultReference)
        let refName = reference.value ?? "ref1"
        let configFile = read(SwiftOptions.configFile)
        let authVersion = read(SwiftOptions.authVersion)
        var credentials = SwiftCredentials(authAddress: "", authVersion: authVersion.value ?? "2", user: "", key: "")
        var usesConfigFile = false
        var credentialsAt = declaredAt, credentialsOption = SwiftOptions.authAddress.name, credentialsSection = storeID
        var referenceLines: Reference?

        if let path = configFile.value, !path.isEmpty {
            usesConfigFile = true
            let file = findFile(path, near: configFile.location?.file)
            credentialsAt = SourceLocation(file: file)
            credentialsSection = refName
            switch loadReferences(file) {
            case .failure(let error):
                d.error(at: at(configFile), section: storeID, option: SwiftOptions.configFile.name, error.message)
            case .success(let references):
                if let ref = references[refName] {
                    credentialsAt = ref.location
                    referenceLines = ref
                    for required in ["auth_address", "user", "key"] where (ref.values[required] ?? "").isEmpty {
                        d.error(at: ref.location, section: refName, option: required,
                                "not set: the account reference '\(refName)' of store '\(storeID)' needs auth_address, user and key")
                    }
                    credentials = SwiftCredentials(
                        authAddress: ref.values["auth_address"] ?? "", authVersion: ref.values["auth_version"] ?? credentials.authVersion,
                        user: ref.values["user"] ?? "", key: ref.values["key"] ?? "",
                        userDomainID: ref.values["user_domain_id"], userDomainName: ref.values["user_domain_name"],
                        projectDomainID: ref.values["project_domain_id"], projectDomainName: ref.values["project_domain_name"])
                    credentialsOption = "auth_address"
                    if ref.values["auth_version"] != nil { credentialsOption = "auth_version" }
                } else {
                    d.error(at: at(reference), section: storeID, option: SwiftOptions.defaultReference.name,
                            "'\(refName)' is not a section of \(file) (sections: \(references.keys.sorted().joined(separator: ", ")))")
                }
            }
        } else {
            let address = read(SwiftOptions.authAddress), user = read(SwiftOptions.user), key = read(SwiftOptions.key)
            if (address.value ?? "").isEmpty || (user.value ?? "").isEmpty || (key.value ?? "").isEmpty {
                let missing = [(address, SwiftOptions.authAddress.name), (user, SwiftOptions.user.name), (key, SwiftOptions.key.name)]
                    .filter { ($0.0.value ?? "").isEmpty }.map(\.1)
                d.error(at: declaredAt, section: storeID, option: SwiftOptions.configFile.name,
                        "not set, and neither are \(missing.joined(separator: ", ")): the store has no credentials (set swift_store_config_file with a [\(refName)] section, or swift_store_auth_address/user/key)")
            }
            credentials.authAddress = address.value ?? ""
            credentials.user = user.value ?? ""
            credentials.key = key.value ?? ""
            credentials.userDomainID = "default"
            credentials.projectDomainID = "default"
            credentialsAt = at(address)
            credentialsSection = storeID
            credentialsOption = SwiftOptions.authAddress.name
        }
        if credentials.userDomainID == nil && credentials.userDomainName == nil { credentials.userDomainID = "default" }
        if credentials.projectDomainID == nil && credentials.projectDomainName == nil { credentials.projectDomainID = "default" }

        switch credentials.authVersion {
        case "1", "1.0": credentials.authVersion = "1"
        case "2", "2.0": credentials.authVersion = "2"
        case "3", "3.0": credentials.authVersion = "3"
        default:
            d.error(at: referenceLines?.location(of: "auth_version") ?? (usesConfigFile ? credentialsAt : at(authVersion)),
                    section: usesConfigFile ? credentialsSection : storeID,
                    option: usesConfigFile ? "auth_version" : SwiftOptions.authVersion.name,
                    "'\(credentials.authVersion)': Swift's auth versions are 1, 2 and 3")
        }
        if !credentials.authAddress.isEmpty {
            let lower = credentials.authAddress.lowercased()
            if !(lower.hasPrefix("http://") || lower.hasPrefix("https://")) || URL(string: credentials.authAddress)?.host == nil {
                d.error(at: referenceLines?.location(of: "auth_address") ?? credentialsAt, section: credentialsSection,
                        option: usesConfigFile ? "auth_address" : credentialsOption,
                        "'\(credentials.authAddress)' is not an http:// or https:// URL")
            }
        }
        if ["2", "3"].contains(credentials.authVersion), !credentials.user.isEmpty,
           credentials.user.split(separator: ":", omittingEmptySubsequences: false).count != 2 {
            d.error(at: referenceLines?.location(of: "user") ?? credentialsAt, section: credentialsSection,
                    option: usesConfigFile ? "user" : SwiftOptions.user.name,
                    "auth v\(credentials.authVersion) needs 'project:user' (Glance: \"Badly formed tenant:user\")")
        }

        let endpoint = read(SwiftOptions.endpoint)
        if let url = endpoint.value, !url.isEmpty, !(url.lowercased().hasPrefix("http://") || url.lowercased().hasPrefix("https://")) {
            d.error(at: at(endpoint), section: storeID, option: SwiftOptions.endpoint.name, "'\(url)' is not an http:// or https:// URL")
        }
        let cacert = read(SwiftOptions.cacert)
        if let path = cacert.value, !path.isEmpty, access(path, R_OK) != 0 {
            d.error(at: at(cacert), section: storeID, option: SwiftOptions.cacert.name, "\(path): \(String(cString: strerror(errno)))")
        }
        let container = read(SwiftOptions.container)
        let containerName = container.value ?? "glance"
        if containerName.isEmpty || containerName.contains("/") || containerName.utf8.count > 256 {
            d.error(at: at(container), section: storeID, option: SwiftOptions.container.name,
                    "'\(containerName)' cannot be a Swift container name (1 to 256 bytes, no '/')")
        }
        let large = read(SwiftOptions.largeObjectSizeMB), chunk = read(SwiftOptions.largeObjectChunkSizeMB)
        let timeout = read(SwiftOptions.timeout)
        return SwiftStoreSettings(
            reference: refName, usesConfigFile: usesConfigFile, credentials: credentials,
            endpoint: endpoint.value.flatMap { $0.isEmpty ? nil : $0 }, region: read(SwiftOptions.region).value.flatMap { $0.isEmpty ? nil : $0 },
            endpointType: read(SwiftOptions.endpointType).value ?? "publicURL",
            serviceType: read(SwiftOptions.serviceType).value ?? "object-store",
            insecure: read(SwiftOptions.authInsecure).value, caCertificate: cacert.value.flatMap { $0.isEmpty ? nil : $0 },
            container: containerName, containerSeed: read(SwiftOptions.multipleContainersSeed).value ?? 0,
            createContainerOnPut: read(SwiftOptions.createContainerOnPut).value,
            largeObjectSize: UInt64(large.value ?? 5120) * UInt64(SwiftOptions.megabyte),
            largeObjectChunkSize: UInt64(chunk.value ?? 200) * UInt64(SwiftOptions.megabyte),
            timeout: Double(timeout.value ?? 10))
    }

    /// oslo's `find_file`: a relative path is looked for beside the config file, then in /etc/glance.
    static func findFile(_ path: String, near configFile: String?) -> String {
        guard !path.hasPrefix("/") else { return path }
        var candidates: [String] = []
        if let configFile {
            let absolute = configFile.hasPrefix("/") ? configFile : FileManager.default.currentDirectoryPath + "/" + configFile
            candidates.append((absolute as NSString).deletingLastPathComponent + "/" + path)
        }
        candidates.append("/etc/glance/" + path)
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[0]
    }

    public struct Reference: Sendable {
        public var values: [String: String]
        /// Where the reference starts (its first option).
        public var location: SourceLocation
        public var lines: [String: SourceLocation] = [:]
        func location(of key: String) -> SourceLocation { lines[key] ?? location }
    }

    public struct ReferenceFileError: Error, Sendable { public let message: String }

    /// A reference file is a few lines of text: anything larger, or not a regular file (a FIFO,
    /// /dev/zero), is refused before it is read.
    static let largestReferenceFile = 1 << 20

    static func loadReferences(_ file: String) -> Result<[String: Reference], ReferenceFileError> {
        var st = stat()
        guard stat(file, &st) == 0 else { return .failure(ReferenceFileError(message: "\(file): \(String(cString: strerror(errno)))")) }
        guard st.st_mode & S_IFMT == S_IFREG else { return .failure(ReferenceFileError(message: "\(file): not a regular file")) }
        guard st.st_size <= largestReferenceFile else {
            return .failure(ReferenceFileError(message: "\(file): \(st.st_size) bytes: a reference file is a few lines of text"))
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            return .failure(ReferenceFileError(message: "\(file): \(String(cString: strerror(access(file, R_OK) == 0 ? EIO : errno)))"))
        }
        guard let text = String(data: data, encoding: .utf8) else { return .failure(ReferenceFileError(message: "\(file): not UTF-8 text")) }
        return parseReferences(text, file: file)
    }

    /// The references of a `swift_store_config_file` as Python's configparser reads them: keys
    /// lower-cased, `[DEFAULT]` inherited by every section, matching quotes stripped (Glance's parser).
    public static func parseReferences(_ text: String, file: String) -> Result<[String: Reference], ReferenceFileError> {
        switch IniParser.parse(text, file: file) {
        case .failure(let error): return .failure(ReferenceFileError(message: "\(error)"))
        case .success(let assignments):
            var defaults: [String: String] = [:]
            var references: [String: Reference] = [:]
            for a in assignments {
                let key = a.key.lowercased()
                if a.section == "DEFAULT" { defaults[key] = a.value; continue }
                references[a.section, default: Reference(values: [:], location: SourceLocation(file: file, line: a.location.line))]
                    .values[key] = a.value
                references[a.section]!.lines[key] = SourceLocation(file: file, line: a.location.line)
            }
            for name in references.keys { references[name]!.values.merge(defaults) { own, _ in own } }
            return .success(references)
        }
    }
}
