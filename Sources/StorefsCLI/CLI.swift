import Foundation
import GlanceConfig
import GlanceStore

/// What a command prints and its exit status; `main` writes it out, tests read it.
public struct CommandOutput: Error, Sendable, Equatable {
    public var stdout = ""
    public var stderr = ""
    public var status: Int32 = 0
}

/// The command line: `check`, `stores`, and (in the mount layer) `mount`.
public enum StorefsCLI {
    /// The one version of glance-storefs (`--version`; the man pages' `.Os` line says the same, as a
    /// test checks).
    public static let version = "0.9.0"

    public static let usage = """
        usage: glance-storefs check  [--config-file FILE]... [--config-dir DIR]...
               glance-storefs stores [--config-file FILE]... [--config-dir DIR]... [--detail]
               glance-storefs audit  [--config-file FILE]... [--store ID]... [--verify] [--json] [--glance-url URL]
               glance-storefs mount  [--config-file FILE]... [--config-dir DIR]... MOUNTPOINT [-o OPTS]... [-f] [--debug]
               glance-storefs CONFIG MOUNTPOINT [-o OPTS]     (what mount -t fuse.glance-storefs runs)
               glance-storefs --version
        Without --config-file, Glance's defaults apply (/etc/glance/glance-api.conf, ...).
        Mount options: ro, cache_timeout=SECONDS, glance_url=URL, and libfuse's (allow_other, default_permissions, ...).
        """

    static let commands: Set<String> = ["check", "stores", "mount", "audit", "-h", "--help", "help", "--version"]

    /// The process entry point: `mount` serves until unmounted; the others print and exit.
    public static func main(_ arguments: [String]) -> Int32 {
        let home = NSHomeDirectory()
        if arguments.first == "mount" { return mount(Array(arguments.dropFirst()), home: home) }
        if arguments.first == "audit" { return auditMain(Array(arguments.dropFirst()), home: home) }
        if let first = arguments.first, !commands.contains(first), !first.hasPrefix("-"), arguments.count >= 2 {
            return mount(arguments, home: home)
        }
        let output = run(arguments, environmentHome: home)
        FileHandle.standardOutput.write(Data(output.stdout.utf8))
        FileHandle.standardError.write(Data(output.stderr.utf8))
        return output.status
    }

    public static func run(_ arguments: [String], environmentHome: String = NSHomeDirectory()) -> CommandOutput {
        guard let command = arguments.first else { return CommandOutput(stderr: usage + "\n", status: 2) }
        let rest = Array(arguments.dropFirst())
        switch command {
        case "check": return check(rest, home: environmentHome)
        case "stores": return stores(rest, home: environmentHome)
        case "-h", "--help", "help": return CommandOutput(stdout: usage + "\n")
        case "--version": return CommandOutput(stdout: "glance-storefs \(version)\n")
        default: return CommandOutput(stderr: "glance-storefs: unknown command '\(command)'\n" + usage + "\n", status: 2)
        }
    }

    /// Parses `--config-file`/`--config-dir` (both `--opt value` and `--opt=value`) in order, plus
    /// the flags a command accepts.
    struct ConfigArguments {
        var inputs: [ConfigInput] = []
        var flags: Set<String> = []
        var positional: [String] = []
    }

    static func parseConfigArguments(_ args: [String], flags allowed: Set<String>) -> Result<ConfigArguments, CommandError> {
        var parsed = ConfigArguments()
        var i = 0
        while i < args.count {
            let arg = args[i]
            var name = arg, value: String?
            if arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") {
                name = String(arg[..<eq])
                value = String(arg[arg.index(after: eq)...])
            }
            switch name {
            case "--config-file", "--config-dir":
                if value == nil {
                    i += 1
                    guard i < args.count else { return .failure(CommandError("\(name) needs a path")) }
                    value = args[i]
                }
                parsed.inputs.append(name == "--config-file" ? .file(value!) : .directory(value!))
            default:
                if allowed.contains(arg) {
                    parsed.flags.insert(arg)
                } else if arg.hasPrefix("-") {
                    return .failure(CommandError("unknown option \(arg)"))
                } else {
                    parsed.positional.append(arg)
                }
            }
            i += 1
        }
        return .success(parsed)
    }

    /// Loads and validates; on failure, the output carries every problem, one line each.
    static func loadConfiguration(_ inputs: [ConfigInput], home: String) -> Result<GlanceConfiguration, CommandOutput> {
        let all = ConfigLoader.withDefaults(inputs, home: home)
        guard !all.isEmpty else {
            return .failure(CommandOutput(stderr: "glance-storefs: no configuration: pass --config-file (no glance-api.conf in the default places)\n", status: 1))
        }
        switch ConfigLoader.load(all) {
        case .failure(let error):
            return .failure(CommandOutput(stderr: error.description + "\n", status: 1))
        case .success(let source):
            switch GlanceConfiguration.validate(source) {
            case .failure(let failure):
                return .failure(CommandOutput(stderr: failure.diagnostics.map { $0.description + "\n" }.joined(), status: 1))
            case .success(let configuration):
                return .success(configuration)
            }
        }
    }
}

public struct CommandError: Error, Sendable {
    public let message: String
    init(_ message: String) { self.message = message }
}
