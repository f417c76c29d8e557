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
    /// The process entry point of `audit`: runs it, prints, returns the exit status.
    static func auditMain(_ command: Audit, arguments: [String], home: String) -> Int32 {
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
            let output = await audit(command, inputs: ConfigOptions.inputs(in: arguments), home: home, progress: progress)
            result.withLock { $0 = output }
            done.signal()
        }
        done.wait()
        let output = result.withLock { $0 }!
        FileHandle.standardOutput.write(Data(output.stdout.utf8))
        FileHandle.standardError.write(Data(output.stderr.utf8))
        return output.status
    }

    /// `audit` with the arguments after the command's name (the tests' way in).
    public static func audit(_ args: [String], home: String = NSHomeDirectory(), progress: VerifyProgress? = nil) async -> CommandOutput {
        let arguments = ["audit"] + args
        let command: Audit
        do {
            var parsed = try GlanceStorefs.parseAsRoot(arguments)
            guard let audit = parsed as? Audit else {
                try parsed.run()  // the parser's help command: throws the help it shows
                return CommandOutput()
            }
            command = audit
        } catch {
            return failure(error)
        }
        return await audit(command, inputs: ConfigOptions.inputs(in: arguments), home: home, progress: progress)
    }

    static func audit(_ parsed: Audit, inputs: [ConfigInput], home: String, progress: VerifyProgress?) async -> CommandOutput {
        let configuration: GlanceConfiguration
        switch loadConfiguration(inputs, home: home) {
        case .failure(var output):
            output.status = 2
            return output
        case .success(let c): configuration = c.withoutHousekeeping()
        }
        let unknown = parsed.stores.filter { configuration.store($0) == nil }
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
        let report = await auditor.run(parsed.options(), progress: progress)
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
