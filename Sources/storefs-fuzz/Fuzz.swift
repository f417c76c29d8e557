import FuzzTargets
import Foundation

// Built two ways. scripts/fuzz.sh builds it with `-sanitize=fuzzer -D STOREFS_FUZZ`: libFuzzer's
// main drives LLVMFuzzerTestOneInput, the target chosen by STOREFS_FUZZ_TARGET. A plain build
// (swift-build) makes a replayer: `storefs-fuzz TARGET FILE...` runs the checks on each file.

#if STOREFS_FUZZ
import CLibFuzzer

nonisolated(unsafe) private var target = FuzzTarget.config

private func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let problems = target.check(count == 0 ? [] : Array(UnsafeBufferPointer(start: start, count: count)))
    if !problems.isEmpty { fatalError(problems.joined(separator: "; ")) }
    return 0
}

/// The entry point SwiftPM links the executable's `main` to (`<module>_main`): libFuzzer's driver.
@_cdecl("storefs_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    guard let name = ProcessInfo.processInfo.environment["STOREFS_FUZZ_TARGET"], let chosen = FuzzTarget(rawValue: name) else {
        fatalError("STOREFS_FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue))")
    }
    target = chosen
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzOne(data, size) }
}
#else
@main
struct Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(Data("usage: storefs-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE...\n".utf8))
            exit(2)
        }
        var failed = false
        for path in arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            let problems = target.check(Array(data))
            if !problems.isEmpty {
                failed = true
                print("\(path): \(problems.joined(separator: "; "))")
            }
        }
        exit(failed ? 1 : 0)
    }
}
#endif
