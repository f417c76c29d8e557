import Foundation
import GlanceConfig

/// `glance-storefs mount [--config-file F]... [--config-dir D]... MOUNTPOINT [-o OPTS]... [-f] [--debug]`
/// and the form mount(8)/fstab produce through mount.fuse3: `glance-storefs CONFIG MOUNTPOINT -o OPTS`
/// (CONFIG a file or a directory).
struct MountArguments {
    var inputs: [ConfigInput] = []
    var mountpoint = ""
    /// `-o` options as given (re-passed to the daemonized child).
    var rawOptions: [String] = []
    /// What goes to libfuse (ours removed, mount(8)-only ones dropped).
    var fuseOptions: [String] = []
    var readOnly = false
    var cacheTimeout: Double = 5
    /// `-o glance_url=URL`: Glance's API for the catalogue's attributes, instead of Keystone's catalogue.
    var glanceURL: String?
    var foreground = false
    var debug = false
    var readyFD: Int32?

    /// Options mount(8), fstab and systemd use that mean nothing to libfuse.
    static let mountOnly: Set<String> = ["defaults", "auto", "noauto", "user", "users", "nouser", "owner",
                                         "_netdev", "nofail", "rw"]

    static func parse(_ args: [String]) -> Result<MountArguments, CommandError> {
        var parsed = MountArguments()
        var positional: [String] = []
        var i = 0
        func value(_ name: String, _ arg: String) -> String? {
            if arg.hasPrefix(name + "=") { return String(arg.dropFirst(name.count + 1)) }
            i += 1
            return i < args.count ? args[i] : nil
        }
        while i < args.count {
            let arg = args[i]
            switch arg {
            case "-f": parsed.foreground = true
            case "-d", "--debug":
                parsed.debug = true
                if arg == "-d" { parsed.foreground = true }
            case "-o":
                i += 1
                guard i < args.count else { return .failure(CommandError("-o needs options")) }
                parsed.rawOptions.append(args[i])
            case _ where arg.hasPrefix("-o"):
                parsed.rawOptions.append(String(arg.dropFirst(2)))
            case _ where arg.hasPrefix("--config-file") || arg.hasPrefix("--config-dir"):
                let name = arg.hasPrefix("--config-file") ? "--config-file" : "--config-dir"
                guard arg == name || arg.hasPrefix(name + "=") else { return .failure(CommandError("unknown option \(arg)")) }
                guard let path = value(name, arg) else { return .failure(CommandError("\(name) needs a path")) }
                parsed.inputs.append(name == "--config-file" ? .file(absolute(path)) : .directory(absolute(path)))
            case _ where arg.hasPrefix("--ready-fd"):
                guard let text = value("--ready-fd", arg), let fd = Int32(text) else {
                    return .failure(CommandError("--ready-fd needs a descriptor"))
                }
                parsed.readyFD = fd
            case _ where arg.hasPrefix("-"):
                return .failure(CommandError("unknown option \(arg)"))
            default:
                positional.append(arg)
            }
            i += 1
        }
        switch positional.count {
        case 1:
            parsed.mountpoint = positional[0]
        case 2:
            // mount.fuse3 passes the fstab source first: our configuration.
            var isDirectory: ObjCBool = false
            let config = absolute(positional[0])
            _ = FileManager.default.fileExists(atPath: config, isDirectory: &isDirectory)
            parsed.inputs.append(isDirectory.boolValue ? .directory(config) : .file(config))
            parsed.mountpoint = positional[1]
        case 0:
            return .failure(CommandError("missing MOUNTPOINT"))
        default:
            return .failure(CommandError("unexpected argument \(positional[2])"))
        }
        parsed.mountpoint = absolute(parsed.mountpoint)
        for option in parsed.rawOptions.flatMap({ $0.split(separator: ",").map(String.init) }) {
            if option == "ro" {
                parsed.readOnly = true
                parsed.fuseOptions.append(option)
            } else if option.hasPrefix("cache_timeout=") {
                guard let seconds = Double(option.dropFirst("cache_timeout=".count)), seconds >= 0 else {
                    return .failure(CommandError("-o cache_timeout needs a number of seconds"))
                }
                parsed.cacheTimeout = seconds
            } else if option.hasPrefix("glance_url=") {
                let url = String(option.dropFirst("glance_url=".count))
                guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                    return .failure(CommandError("-o glance_url needs an http:// or https:// URL"))
                }
                parsed.glanceURL = url
            } else if mountOnly.contains(option) || option.hasPrefix("x-") || option.hasPrefix("comment=") {
                continue
            } else {
                parsed.fuseOptions.append(option)
            }
        }
        return .success(parsed)
    }

    static func absolute(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return URL(fileURLWithPath: full).standardizedFileURL.path
    }

    /// The arguments of the foreground child a daemonizing parent starts.
    func childArguments(readyFD: Int32) -> [String] {
        var args = ["mount"]
        for input in inputs {
            switch input {
            case .file(let path): args.append("--config-file=\(path)")
            case .directory(let path): args.append("--config-dir=\(path)")
            }
        }
        args.append(mountpoint)
        for option in rawOptions { args += ["-o", option] }
        if debug { args.append("--debug") }
        return args + ["-f", "--ready-fd=\(readyFD)"]
    }
}
