import ArgumentParser
import enum GlanceConfig.ConfigInput
import StoreAudit

/// The command line as swift-argument-parser declares it: `--help`/`-h` on every command, `--version`,
/// `--generate-completion-script`, errors in its format. What each command does lives in its own file
/// (CheckCommand, StoresCommand, AuditCommand, MountCommand); these types only declare and parse.
struct GlanceStorefs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "glance-storefs",
        abstract: "Mount every store of an OpenStack Glance multi-store configuration as a FUSE file system.",
        discussion: """
            Each store of [DEFAULT] enabled_backends becomes a directory, each image in it a file named by its \
            image id. Without --config-file, Glance's defaults apply (/etc/glance/glance-api.conf, ...).

            mount(8) and fstab (mount -t fuse.glance-storefs) run the form `glance-storefs CONFIG MOUNTPOINT \
            -o OPTIONS`, which is `glance-storefs mount CONFIG MOUNTPOINT -o OPTIONS`.
            """,
        version: "glance-storefs \(StorefsCLI.version)",
        subcommands: [Check.self, Stores.self, Audit.self, Mount.self]
    )

    func run() throws {
        throw ValidationError("a command is needed: check, stores, audit or mount")
    }
}

/// `--config-file` and `--config-dir`, in every command. oslo.config reads them in the order given
/// (a later file overrides an earlier one), which two array options lose: the order is read back
/// from the arguments the parser accepted (`ConfigOptions.inputs(in:)`).
struct ConfigOptions: ParsableArguments {
    @Option(name: .customLong("config-file"),
            help: ArgumentHelp("A glance-api.conf to read (repeatable, read in order with --config-dir).", valueName: "file"))
    var files: [String] = []

    @Option(name: .customLong("config-dir"),
            help: ArgumentHelp("A directory of *.conf files to read, in name order (repeatable).", valueName: "dir"))
    var directories: [String] = []

    /// Files and directories in the order the arguments give them.
    static func inputs(in arguments: [String], absolute: Bool = false) -> [ConfigInput] {
        var inputs: [ConfigInput] = []
        var i = 0
        while i < arguments.count {
            defer { i += 1 }
            let arg = arguments[i]
            if arg == "--" { break }
            for (name, make) in [("--config-file", ConfigInput.file), ("--config-dir", ConfigInput.directory)] {
                var value: String?
                if arg == name, i + 1 < arguments.count {
                    i += 1
                    value = arguments[i]
                } else if arg.hasPrefix(name + "=") {
                    value = String(arg.dropFirst(name.count + 1))
                }
                if let value { inputs.append(make(absolute ? MountArguments.absolute(value) : value)) }
            }
        }
        return inputs
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the configuration and summarise its stores.",
        discussion: """
            Prints the stores in order with their types and locations, the default store, where Glance's \
            catalogue is asked, and the reserved stores' directories. Warnings go to stderr. Exit status 1 when \
            the configuration is invalid, with one line per problem (file:line: [section] option: ...).
            """
    )
    @OptionGroup var config: ConfigOptions
}

struct Stores: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the stores as Glance's GET /v2/info/stores does (JSON).",
        discussion: "Never a secret: ids, descriptions, types and the properties Glance itself shows."
    )
    @OptionGroup var config: ConfigOptions
    @Flag(help: "Add each store's type and properties, as GET /v2/info/stores/detail.")
    var detail = false
}

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare what each store holds with Glance's catalogue.",
        discussion: """
            Asks Glance's API as the [keystone_authtoken] user (or --glance-url) and lists every store through \
            the mount's drivers, changing nothing. Findings: orphan, missing, size-mismatch, leftover; with \
            --verify also checksum-mismatch (every copy is read). Exit status: 0 clean, 1 findings, 2 unable to \
            audit (Glance unreachable, a store that cannot be listed, bad arguments).
            """
    )
    @OptionGroup var config: ConfigOptions
    @Option(name: .customLong("store"), help: ArgumentHelp("Audit only this store (repeatable).", valueName: "id"))
    var stores: [String] = []
    @Flag(help: "Read every copy and compare its checksum and hash with Glance's.")
    var verify = false
    @Flag(help: "One JSON object per finding and line.")
    var json = false
    @Option(name: .customLong("glance-url"), help: ArgumentHelp("Glance's API, instead of Keystone's catalogue.", valueName: "url"))
    var glanceURL: String?
    @Option(help: ArgumentHelp("Copies read at once by --verify (1-64).", valueName: "n"))
    var parallel = 3

    func validate() throws {
        if let glanceURL, !(glanceURL.hasPrefix("http://") || glanceURL.hasPrefix("https://")) {
            throw ValidationError("--glance-url needs an http:// or https:// URL")
        }
        guard (1...64).contains(parallel) else { throw ValidationError("--parallel needs a number from 1 to 64") }
    }

    func options() -> Auditor.Options {
        var options = Auditor.Options()
        options.stores = stores
        options.verify = verify
        options.parallel = parallel
        return options
    }
}

struct Mount: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mount the stores at MOUNTPOINT.",
        usage: """
            glance-storefs mount [--config-file <file> ...] [--config-dir <dir> ...] <mountpoint> [-o <options> ...] [-f] [--debug] [-d]
            glance-storefs CONFIG MOUNTPOINT [-o <options> ...]     (what mount -t fuse.glance-storefs runs)
            """,
        discussion: """
            Returns once the mount is up; the daemon serves in its own session and logs to syslog. SIGINT, \
            SIGTERM or fusermount3 -u unmount cleanly. Nothing is mounted when something is wrong (one line, \
            non-zero exit).

            Mount options (-o, comma-separated): ro (every store read-only); cache_timeout=SECONDS (how long the \
            kernel trusts an image's attributes, default 5); glance_url=URL (Glance's API for user.glance.image.*); \
            metrics=ADDR:PORT (Prometheus metrics at http://ADDR:PORT/metrics); nopassthrough (a file store's \
            images are read through the daemon even where the kernel could read their files itself); libfuse's own (allow_other, \
            default_permissions, ...). mount(8)-only options (_netdev, nofail, noauto, x-systemd.*, ...) are \
            accepted and ignored.
            """
    )
    @OptionGroup var config: ConfigOptions
    @Argument(help: ArgumentHelp("[CONFIG] MOUNTPOINT: the mount point, after the configuration (a file or a directory) in the form mount(8) runs.",
                                 valueName: "mountpoint"))
    var paths: [String] = []
    @Option(name: .customShort("o", allowingJoined: true),
            help: ArgumentHelp("Mount options, comma-separated (repeatable).", valueName: "options"))
    var options: [String] = []
    @Flag(name: .customShort("f"), help: "Stay in the foreground, logging to stderr.")
    var foreground = false
    @Flag(name: .customLong("debug"), help: "Log a line per request.")
    var debug = false
    @Flag(name: .customShort("d"), help: "--debug in the foreground (-f).")
    var debugForeground = false
    /// The daemonizing parent's pipe: "ok" is written there once the mount is up.
    @Option(name: .customLong("ready-fd"), help: .hidden)
    var readyFD: Int32?

    func validate() throws {
        if case .failure(let error) = MountArguments.make(self, inputs: []) { throw ValidationError(error.message) }
    }
}
