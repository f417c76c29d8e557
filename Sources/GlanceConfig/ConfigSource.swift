import Foundation

/// What the command line names, in command-line order: oslo.config processes `--config-file` and
/// `--config-dir` in the order given, later ones overriding earlier ones.
public enum ConfigInput: Sendable, Equatable {
    case file(String)
    case directory(String)
}

/// Every assignment of every file, in parse order, indexed by normalised section name.
/// Non-multi options resolve to the last assignment; MultiStr options accumulate all of them.
public struct ConfigSource: Sendable {
    /// The files actually read, in order (a `--config-dir` expands to its sorted `*.conf`).
    public let files: [String]
    private let sections: [String: [String: [IniAssignment]]]

    public init(assignments: [IniAssignment], files: [String]) {
        var sections: [String: [String: [IniAssignment]]] = [:]
        for assignment in assignments {
            sections[Self.normalize(section: assignment.section), default: [:]][assignment.key, default: []]
                .append(assignment)
        }
        self.sections = sections
        self.files = files
    }

    /// oslo lower-cases group names except the literal `DEFAULT` (so `[default]` is not DEFAULT).
    public static func normalize(section: String) -> String {
        section == "DEFAULT" ? section : section.lowercased()
    }

    /// All assignments of `key` in `section`, oldest first. Keys are case-sensitive, as in oslo.
    public func assignments(section: String, key: String) -> [IniAssignment] {
        sections[Self.normalize(section: section)]?[key] ?? []
    }

    public func section(_ name: String) -> ConfigSection {
        ConfigSection(name: name, options: sections[Self.normalize(section: name)] ?? [:], fallbackFile: files.last ?? "<none>")
    }

    /// Where to point a diagnostic about an option nobody set: the last file, which is where an
    /// operator would add it.
    public var fallbackLocation: SourceLocation { SourceLocation(file: files.last ?? "<no config file>") }
}

/// The options of one group (a store's `[<id>]`, `[glance_store]`, `[DEFAULT]`).
public struct ConfigSection: Sendable {
    public let name: String
    let options: [String: [IniAssignment]]
    let fallbackFile: String

    public func assignments(_ key: String) -> [IniAssignment] { options[key] ?? [] }
    public func isSet(_ key: String) -> Bool { options[key] != nil }
    public var keys: [String] { options.keys.sorted() }
    public var location: SourceLocation { SourceLocation(file: fallbackFile) }
}

public struct ConfigLoadError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

public enum ConfigLoader {
    /// Reads the inputs in order. A missing file or directory, an unreadable file or an INI syntax
    /// error stops loading: the options after it could not be trusted.
    public static func load(_ inputs: [ConfigInput]) -> Result<ConfigSource, ConfigLoadError> {
        var files: [String] = []
        var assignments: [IniAssignment] = []
        let fm = FileManager.default
        for input in inputs {
            let paths: [String]
            switch input {
            case .file(let path):
                var isDirectory: ObjCBool = false
                guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
                    return .failure(ConfigLoadError(description: "\(path): config file not found (--config-file)"))
                }
                guard !isDirectory.boolValue else {
                    return .failure(ConfigLoadError(description: "\(path): is a directory; use --config-dir for directories"))
                }
                paths = [path]
            case .directory(let dir):
                var isDirectory: ObjCBool = false
                guard fm.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
                    return .failure(ConfigLoadError(description: "\(dir): config directory not found (--config-dir)"))
                }
                guard let names = try? fm.contentsOfDirectory(atPath: dir) else {
                    return .failure(ConfigLoadError(description: "\(dir): config directory cannot be read (--config-dir)"))
                }
                // Python's sorted() on str compares code points; Swift's < on the UTF-8 bytes matches it.
                paths = names.filter { $0.hasSuffix(".conf") }
                    .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
                    .map { (dir as NSString).appendingPathComponent($0) }
            }
            for path in paths {
                guard let data = fm.contents(atPath: path) else {
                    return .failure(ConfigLoadError(description: "\(path): config file cannot be read"))
                }
                guard let text = String(data: data, encoding: .utf8) else {
                    return .failure(ConfigLoadError(description: "\(path): config file is not valid UTF-8"))
                }
                switch IniParser.parse(text, file: path) {
                case .success(let parsed): assignments += parsed
                case .failure(let error): return .failure(ConfigLoadError(description: error.description))
                }
                files.append(path)
            }
        }
        return .success(ConfigSource(assignments: assignments, files: files))
    }

    /// Glance's own defaults when the command line names no file (oslo `find_config_files('glance',
    /// 'glance-api')`): for each of glance.conf and glance-api.conf the first that exists in
    /// ~/.glance, ~, /etc/glance, /etc. Default config dirs follow the same search. As in oslo, the
    /// default dirs are used only without any `--config-dir`, the default files only without any
    /// `--config-file`, and both are read before what the command line names.
    public static func withDefaults(_ given: [ConfigInput], home: String = NSHomeDirectory()) -> [ConfigInput] {
        let searchDirs = ["\(home)/.glance", home, "/etc/glance", "/etc"]
        func firstExisting(_ name: String, directory: Bool) -> String? {
            for dir in searchDirs {
                let path = "\(dir)/\(name)"
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue == directory {
                    return path
                }
            }
            return nil
        }
        let dirs = ["glance.conf.d", "glance-api.conf.d"].compactMap { firstExisting($0, directory: true) }
        let files = ["glance.conf", "glance-api.conf"].compactMap { firstExisting($0, directory: false) }
        let givesDir = given.contains { if case .directory = $0 { true } else { false } }
        let givesFile = given.contains { if case .file = $0 { true } else { false } }
        return (givesDir ? [] : dirs.map(ConfigInput.directory)) + (givesFile ? [] : files.map(ConfigInput.file)) + given
    }
}
