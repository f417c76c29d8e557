import ArgumentParser
import Foundation
import GlanceConfig
import GlanceStore

/// What a command prints and its exit status; `main` writes it out, tests read it.
public struct CommandOutput: Error, Sendable, Equatable {
    public var stdout = ""
    public var stderr = ""
    public var status: Int32 = 0
}

/// The command line (declared in Commands.swift): `check`, `stores`, `audit`, `mount`.
public enum StorefsCLI {
    /// The one version of glance-storefs (`--version`; the man pages' `.Os` line says the same, as a
    /// test checks).
    public static let version = "0.9.0"

    /// The process entry point: `mount` serves until unmounted; the others print and exit.
    public static func main(_ arguments: [String]) -> Int32 {
        let home = NSHomeDirectory()
        let arguments = routingMountForm(arguments)
        let command: any ParsableCommand
        do { command = try GlanceStorefs.parseAsRoot(arguments) } catch {
            return printed(failure(error))
        }
        switch command {
        case let mount as Mount: return Self.mount(mount, arguments: arguments, home: home)
        case let audit as Audit: return auditMain(audit, arguments: arguments, home: home)
        default: return printed(output(of: command, arguments: arguments, home: home))
        }
    }

    /// `glance-storefs CONFIG MOUNTPOINT -o OPTS`, what mount.fuse3 runs, is the mount command.
    static func routingMountForm(_ arguments: [String]) -> [String] {
        let commands = GlanceStorefs.configuration.subcommands.map { $0.configuration.commandName ?? "\($0)".lowercased() } + ["help"]
        guard let first = arguments.first, !first.hasPrefix("-"), !commands.contains(first), arguments.count >= 2 else {
            return arguments
        }
        return ["mount"] + arguments
    }

    /// `check`, `stores`, help, version and parse errors, as text (the tests' way in).
    public static func run(_ arguments: [String], environmentHome: String = NSHomeDirectory()) -> CommandOutput {
        do {
            let command = try GlanceStorefs.parseAsRoot(arguments)
            return output(of: command, arguments: arguments, home: environmentHome)
        } catch {
            return failure(error)
        }
    }

    private static func output(of command: any ParsableCommand, arguments: [String], home: String) -> CommandOutput {
        let inputs = ConfigOptions.inputs(in: arguments)
        switch command {
        case is Check:
            return Self.check(inputs, home: home)
        case let stores as Stores:
            return Self.stores(inputs, detail: stores.detail, home: home)
        default:
            // The root without a command: its usage, as an error.
            do { var root = command; try root.run(); return CommandOutput() } catch { return failure(error) }
        }
    }

    /// What the parser says of an error or a request for help, version or completions, with our exit
    /// statuses: 0 for those requests, 2 for a usage error (the man page's; the parser's own is 64).
    static func failure(_ error: any Error) -> CommandOutput {
        let message = GlanceStorefs.fullMessage(for: error) + "\n"
        let code = GlanceStorefs.exitCode(for: error)
        if code.isSuccess { return CommandOutput(stdout: message) }
        return CommandOutput(stderr: message, status: code == .validationFailure ? 2 : code.rawValue)
    }

    static func printed(_ output: CommandOutput) -> Int32 {
        FileHandle.standardOutput.write(Data(output.stdout.utf8))
        FileHandle.standardError.write(Data(output.stderr.utf8))
        return output.status
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
