import Logging
import Synchronization

/// Names a store holds that cannot be file names of the mount (over 255 bytes, a '/', '.' or '..',
/// not UTF-8): left out of its directory, each said once in the log (not at every listing), with
/// the name written so that a control character or a stray byte shows as what it is.
public enum LeftOutNames {
    private static let said = Mutex<Set<String>>([])

    public static func report(store: String, name: String, reason: String, logger: Logger) {
        let key = store + "/" + name
        guard said.withLock({ $0.insert(key).inserted }) else { return }
        logger.notice("a name the store holds cannot be a file name; left out", metadata: [
            "store": "\(store)", "name": "\(printable(name))", "reason": "\(reason)"])
    }

    /// Printable ASCII as it is; anything else as \n, \t, \u{...}.
    public static func printable(_ name: String) -> String {
        var out = ""
        for scalar in name.unicodeScalars {
            if scalar.value >= 0x20 && scalar.value < 0x7f && scalar != "\\" { out.unicodeScalars.append(scalar) } else {
                out += scalar.escaped(asASCII: true)
            }
        }
        return out
    }

    /// A name's bytes that are not UTF-8, printable: ASCII as it is, every other byte as \xNN.
    public static func printable(bytes: [UInt8]) -> String {
        bytes.map { $0 >= 0x20 && $0 < 0x7f && $0 != 0x5c ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16, uppercase: true) }.joined()
    }
}
