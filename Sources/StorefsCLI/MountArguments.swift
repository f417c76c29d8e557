import Foundation
import GlanceConfig
import StoreMetrics

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
    /// `-o metrics=ADDR:PORT`: where Prometheus scrapes `/metrics` (off without it).
    var metrics: (host: String, port: Int)?
    /// `-o nopassthrough`: local images' reads go through the daemon even where the kernel could
    /// read their files itself.
    var passthrough = true
    var foreground = false
    var debug = false
    var readyFD: Int32?

    /// Options mount(8), fstab and systemd use that mean nothing to libfuse.
    static let mountOnly: Set<String> = ["defaults", "auto", "noauto", "user", "users", "nouser", "owner",
                                         "_netdev", "nofail", "rw"]

    /// The mount as the parser gave it; `inputs` the --config-file/--config-dir in their order.
    static func make(_ command: Mount, inputs: [ConfigInput]) -> Result<MountArguments, CommandError> {
        var parsed = MountArguments()
        parsed.inputs = inputs
        parsed.foreground = command.foreground || command.debugForeground
        parsed.debug = command.debug || command.debugForeground
        parsed.readyFD = command.readyFD
        parsed.rawOptions = command.options
        switch command.paths.count {
        case 1:
            parsed.mountpoint = command.paths[0]
        case 2:
            // mount.fuse3 passes the fstab source first: our configuration.
            var isDirectory: ObjCBool = false
            let config = absolute(command.paths[0])
            _ = FileManager.default.fileExists(atPath: config, isDirectory: &isDirectory)
            parsed.inputs.append(isDirectory.boolValue ? .directory(config) : .file(config))
            parsed.mountpoint = command.paths[1]
        case 0:
            return .failure(CommandError("missing MOUNTPOINT"))
        default:
            return .failure(CommandError("unexpected argument \(command.paths[2])"))
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
            } else if option.hasPrefix("metrics=") {
                guard let address = MetricsEndpoint.parseAddress(String(option.dropFirst("metrics=".count))) else {
                    return .failure(CommandError("-o metrics needs ADDR:PORT (127.0.0.1:9183, [::1]:9183)"))
                }
                parsed.metrics = address
            } else if option == "nopassthrough" {
                parsed.passthrough = false
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
