import Dispatch
import Foundation
import GlanceConfig
import GlanceStore
import Logging
import StoreAudit
import Synchronization

/// `glance-storefs audit`: every store against Glance's catalogue. Exit 0 clean, 1 findings, 2 unable
/// to audit (Glance unreachable, a store that cannot be listed, bad arguments or configuration).
extension StorefsCLI {
    static let auditUsage = """
        usage: glance-storefs audit [--config-file FILE]... [--config-dir DIR]... [--store ID]... [--verify]
                                    [--json] [--glance-url URL] [--parallel N]
        Compares what each store holds with Glance's catalogue (as the [keystone_authtoken] user):
        orphan, missing, size-mismatch, leftover; with --verify also checksum-mismatch (every copy read).
        --json: one JSON object per finding and line. Exit status: 0 clean, 1 findings, 2 unable to audit.
        """

    struct AuditArguments {
        var inputs: [ConfigInput] = []
        var options = Auditor.Options()
        var json = false
        var glanceURL: String?
    }

    static func parseAudit(_ args: [String]) -> Result<AuditArguments, CommandError> {
        var parsed = AuditArguments()
        var i = 0
        while i < args.count {
            var name = args[i], inline: String?
            if name.hasPrefix("--"), let eq = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            func value() -> String? {
                if let inline { return inline }
                i += 1
                return i < args.count ? args[i] : nil
            }
            switch name {
            case "--config-file", "--config-dir":
                guard let path = value() else { return .failure(CommandError("\(name) needs a path")) }
                parsed.inputs.append(name == "--config-file" ? .file(path) : .directory(path))
            case "--store":
                guard let id = value() else { return .failure(CommandError("--store needs a store id")) }
                parsed.options.stores.append(id)
            case "--glance-url":
                guard let url = value(), url.hasPrefix("http://") || url.hasPrefix("https://") else {
                    return .failure(CommandError("--glance-url needs an http:// or https:// URL"))
                }
                parsed.glanceURL = url
            case "--parallel":
                guard let text = value(), let n = Int(text), n > 0, n <= 64 else {
                    return .failure(CommandError("--parallel needs a number from 1 to 64"))
                }
                parsed.options.parallel = n
            case "--verify" where inline == nil: parsed.options.verify = true
            case "--json" where inline == nil: parsed.json = true
            default:
                return .failure(CommandError(name.hasPrefix("-") ? "unknown option \(args[i])" : "unexpected argument \(args[i])"))
            }
            i += 1
        }
        return .success(parsed)
    }

    /// The process entry point of `audit`: runs it, prints, returns the exit status.
    static func auditMain(_ args: [String], home: String) -> Int32 {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let terminal = isatty(STDERR_FILENO) == 1
        let progress = terminal ? VerifyProgress { line, final in
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + (final ? "\n" : "")).utf8))
        } : nil
        let result = Mutex<CommandOutput?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            let output = await audit(args, home: home, progress: progress)
            result.withLock { $0 = output }
            done.signal()
        }
        done.wait()
        let output = result.withLock { $0 }!
        FileHandle.standardOutput.write(Data(output.stdout.utf8))
        FileHandle.standardError.write(Data(output.stderr.utf8))
        return output.status
    }

    public static func audit(_ args: [String], home: String = NSHomeDirectory(), progress: VerifyProgress? = nil) async -> CommandOutput {
        if args.contains("-h") || args.contains("--help") { return CommandOutput(stdout: auditUsage + "\n") }
        let parsed: AuditArguments
        switch parseAudit(args) {
        case .success(let p): parsed = p
        case .failure(let e): return CommandOutput(stderr: "glance-storefs audit: \(e.message)\n" + auditUsage + "\n", status: 2)
        }
        let configuration: GlanceConfiguration
        switch loadConfiguration(parsed.inputs, home: home) {
        case .failure(var output):
            output.status = 2
            return output
        case .success(let c): configuration = c.withoutHousekeeping()
        }
        let unknown = parsed.options.stores.filter { configuration.store($0) == nil }
        if let id = unknown.first {
            return CommandOutput(stderr: "glance-storefs audit: --store \(id): not a store of enabled_backends (\(configuration.stores.map(\.id).joined(separator: ", ")))\n", status: 2)
        }
        var settings = configuration.catalogue
        if let url = parsed.glanceURL { settings.glanceURL = url }
        if let reason = settings.unusableReason {
            return CommandOutput(stderr: "glance-storefs audit: cannot ask Glance's catalogue: \(reason)\n", status: 2)
        }
        let logger = Logger(label: "glance-storefs.audit")
        let registry: StoreRegistry
        do throws(StoreError) { registry = try StoreRegistry(configuration: configuration, logger: logger) } catch {
            return CommandOutput(stderr: "glance-storefs audit: \(error)\n", status: 2)
        }
        let auditor = Auditor(registry: registry, client: GlanceClient(settings: settings), logger: logger)
        let report = await auditor.run(parsed.options, progress: progress)
        var output = CommandOutput(status: report.exitStatus)
        if report.catalogueImages == 0, report.storesAudited.isEmpty, !report.problems.isEmpty {
            // Nothing could be compared: one line.
            output.stderr = report.problems.map { "glance-storefs audit: \($0)\n" }.joined()
            return output
        }
        if parsed.json {
            output.stdout = report.findings.map { $0.jsonLine + "\n" }.joined()
            output.stderr = (report.notes.map { "glance-storefs audit: note: \($0)" } + report.problems.map { "glance-storefs audit: \($0)" } + [report.summary])
                .map { $0 + "\n" }.joined()
        } else {
            output.stdout = report.table()
        }
        return output
    }
}
