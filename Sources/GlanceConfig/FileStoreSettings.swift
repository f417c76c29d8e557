import Foundation

/// A file store's options after Glance's own interpretation (`configure_add`, reference §4).
public struct FileStoreSettings: Sendable, Equatable {
    public struct DataDirectory: Sendable, Equatable {
        public let path: String
        public let priority: Int
        public let location: SourceLocation
    }

    /// In config order; with a single `filesystem_store_datadir` one entry of priority 0.
    public let directories: [DataDirectory]
    public let usesDatadirs: Bool
    /// nil: leave the mode to the umask (`filesystem_store_file_perm <= 0`).
    public let filePermissions: UInt16?
    public let chunkSize: Int
    public let thinProvisioning: Bool
    public let metadataFile: String?
    /// Entries of the metadata file: each has string `id` and `mountpoint` (and maybe more strings).
    public let metadata: [[String: String]]

    /// Interprets the options of `section` and reports what Glance's `configure_add` would reject.
    /// A value of the wrong type is not reported here: the schema pass of validation reports every
    /// option's type once, for all store types alike. `defaultDatadir` is Glance's default for the
    /// group (`/var/lib/glance/images`, or `/var/lib/glance/<id>` for a reserved store).
    public static func resolve(section: ConfigSection, defaultDatadir: String,
                               diagnostics d: inout Diagnostics) -> FileStoreSettings {
        let group = section.name
        var typeErrors = Diagnostics()  // reported by the schema pass
        let datadir = section.read(FileOptions.datadir, into: &typeErrors)
        let datadirs = section.read(FileOptions.datadirs, into: &typeErrors)
        var directories: [DataDirectory] = []
        let explicitDatadir = datadir.isSet && !(datadir.value ?? "").isEmpty

        if let entries = datadirs.value, let where_ = datadirs.location {
            // Glance itself refuses datadirs whenever datadir has a value, and its default always has
            // one (reference §8.5); we honour datadirs unless datadir was set explicitly too.
            if explicitDatadir {
                d.error(at: datadir.location!, section: group, option: FileOptions.datadir.name,
                        "set either filesystem_store_datadir or filesystem_store_datadirs, not both")
            }
            let assignments = section.assignments(FileOptions.datadirs.name)
            for (index, entry) in entries.enumerated() {
                let at = index < assignments.count ? assignments[index].location : where_
                // `path[:priority]`, split on the last ":" (Glance's rsplit(':', 1)).
                var path = strip(entry)
                var priority = 0
                if let colon = path.lastIndex(of: ":") {
                    let rawPriority = strip(String(path[path.index(after: colon)...]))
                    path = strip(String(path[..<colon]))
                    if !rawPriority.isEmpty {
                        guard let p = OptionParsing.pythonInt(rawPriority) else {
                            d.error(at: at, section: group, option: FileOptions.datadirs.name,
                                    "invalid priority '\(rawPriority)' for \(path) (an integer is expected)")
                            continue
                        }
                        priority = p
                    }
                }
                guard !path.isEmpty else {
                    d.error(at: at, section: group, option: FileOptions.datadirs.name, "empty directory in '\(entry)'")
                    continue
                }
                if let earlier = directories.first(where: { $0.path == path }) {
                    if earlier.priority != priority {
                        d.error(at: at, section: group, option: FileOptions.datadirs.name,
                                "directory \(path) is listed twice, with priorities \(earlier.priority) and \(priority)")
                    } else {
                        d.warning(at: at, section: group, option: FileOptions.datadirs.name,
                                  "directory \(path) is listed twice; the duplicate is ignored")
                    }
                    continue
                }
                directories.append(DataDirectory(path: path, priority: priority, location: at))
            }
        } else {
            let path = datadir.isSet ? (datadir.value ?? "") : defaultDatadir
            if path.isEmpty {
                d.error(at: datadir.location ?? section.location, section: group, option: FileOptions.datadir.name,
                        "empty: set filesystem_store_datadir or filesystem_store_datadirs")
            } else {
                directories.append(DataDirectory(path: path, priority: 0, location: datadir.location ?? section.location))
            }
        }
        for dir in directories where !dir.path.hasPrefix("/") {
            d.error(at: dir.location, section: group,
                    option: datadirs.value != nil ? FileOptions.datadirs.name : FileOptions.datadir.name,
                    "\(dir.path) is not an absolute path")
        }
        for (i, a) in directories.enumerated() {
            for b in directories[(i + 1)...] where PathOverlap.isInside(b.path, a.path) || PathOverlap.isInside(a.path, b.path) {
                d.error(at: b.location, section: group, option: FileOptions.datadirs.name,
                        "directories \(a.path) and \(b.path) are nested; images would be listed twice")
            }
        }

        var permissions: UInt16?
        let perm = section.read(FileOptions.filePerm, into: &typeErrors)
        if let value = perm.value, value > 0 {
            // Glance reads the decimal digits as octal: int(str(perm), 8).
            let digits = String(value)
            if let mode = UInt16(digits, radix: 8), mode <= 0o7777 {
                if mode & 0o400 == 0 {
                    d.error(at: perm.location!, section: group, option: FileOptions.filePerm.name,
                            "\(digits) lacks the owner read bit (Glance disables writes to such a store)")
                }
                permissions = mode
            } else {
                d.error(at: perm.location!, section: group, option: FileOptions.filePerm.name,
                        "\(digits) is not an octal file mode such as 640")
            }
        }

        let chunk = section.read(FileOptions.chunkSize, into: &typeErrors)
        if chunk.isSet && chunk.value == nil {
            d.error(at: chunk.location!, section: group, option: FileOptions.chunkSize.name, "empty; give a size in bytes")
        }
        let thin = section.read(FileOptions.thinProvisioning, into: &typeErrors)

        let metadataFile = section.read(FileOptions.metadataFile, into: &typeErrors)
        var metadata: [[String: String]] = []
        if let path = metadataFile.value, !path.isEmpty {
            switch loadMetadataFile(path) {
            case .success(let entries): metadata = entries
            case .failure(let error):
                d.error(at: metadataFile.location!, section: group, option: FileOptions.metadataFile.name, error.description)
            }
        }

        return FileStoreSettings(
            directories: directories, usesDatadirs: datadirs.value != nil, filePermissions: permissions,
            chunkSize: chunk.value ?? 65536, thinProvisioning: thin.value,
            metadataFile: metadataFile.value.flatMap { $0.isEmpty ? nil : $0 }, metadata: metadata)
    }

    /// Glance's schema: a JSON object, or a list of objects, each with string `id` and `mountpoint`.
    /// Every value must be a string: Glance rejects other leaves when it returns them as metadata.
    static func loadMetadataFile(_ path: String) -> Result<[[String: String]], ConfigLoadError> {
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(ConfigLoadError(description: "\(path) cannot be read"))
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) else {
            return .failure(ConfigLoadError(description: "\(path) is not valid JSON"))
        }
        let objects: [Any] = (json as? [Any]) ?? [json]
        var entries: [[String: String]] = []
        for object in objects {
            guard let dict = object as? [String: Any] else {
                return .failure(ConfigLoadError(description: "\(path): every entry must be a JSON object"))
            }
            var entry: [String: String] = [:]
            for (key, value) in dict {
                guard let string = value as? String else {
                    return .failure(ConfigLoadError(description: "\(path): value of '\(key)' must be a string"))
                }
                entry[key] = string
            }
            guard entry["id"] != nil, entry["mountpoint"] != nil else {
                return .failure(ConfigLoadError(description: "\(path): every entry needs string 'id' and 'mountpoint'"))
            }
            entries.append(entry)
        }
        return .success(entries)
    }
}

/// Path comparisons for the "no two stores share or nest a datadir" rule: lexical normalisation,
/// then symlinks resolved for the part of the path that exists.
public enum PathOverlap {
    public static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." { _ = parts.popLast(); continue }
            parts.append(part)
        }
        var lexical = "/" + parts.joined(separator: "/")
        // Resolve symlinks on the longest existing prefix so /srv/link/x and /data/x compare equal.
        var existing = lexical
        var rest: [String] = []
        while existing != "/" && !FileManager.default.fileExists(atPath: existing) {
            rest.insert((existing as NSString).lastPathComponent, at: 0)
            existing = (existing as NSString).deletingLastPathComponent
        }
        if let resolved = realpath(existing, nil) {
            lexical = String(cString: resolved)
            free(resolved)
            for component in rest { lexical = lexical == "/" ? "/\(component)" : "\(lexical)/\(component)" }
        }
        return lexical
    }

    /// True when `inner` equals `outer` or lies below it.
    public static func isInside(_ inner: String, _ outer: String) -> Bool {
        let i = normalize(inner), o = normalize(outer)
        return i == o || i.hasPrefix(o == "/" ? "/" : o + "/")
    }
}
