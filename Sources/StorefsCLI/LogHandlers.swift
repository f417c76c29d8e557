import CSystemShims
import Foundation
import Glibc
import Logging

/// A daemon's log: syslog (the journal on systemd machines), and stderr while it is still attached
/// to the terminal that started it.
struct SyslogLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    let label: String

    init(label: String) {
        self.label = label
        openlog("glance-storefs", LOG_PID, LOG_DAEMON)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let level = event.level, message = event.message
        let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
        let details = all.keys.sorted().map { "\($0)=\(all[$0]!)" }.joined(separator: " ")
        let text = details.isEmpty ? "\(message)" : "\(message) \(details)"
        storefs_syslog(Self.priority(level), text)
        if level >= .warning { FileHandle.standardError.write(Data("glance-storefs: \(level): \(text)\n".utf8)) }
    }

    static func priority(_ level: Logger.Level) -> Int32 {
        switch level {
        case .trace, .debug: LOG_DEBUG
        case .info: LOG_INFO
        case .notice: LOG_NOTICE
        case .warning: LOG_WARNING
        case .error: LOG_ERR
        case .critical: LOG_CRIT
        }
    }
}
