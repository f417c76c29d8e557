import Glibc

/// Gives the allocator's free memory back to the system: tcmalloc (which the daemon links) keeps
/// what was freed for reuse and returns it slowly. Found at run time: tcmalloc's call where it is
/// linked, glibc's otherwise (tests, the library alone).
public enum FreeMemory {
    /// tcmalloc's MallocExtension_ReleaseFreeMemory, else glibc's malloc_trim(0).
    public static let release: @Sendable () -> Void = {
        let any = UnsafeMutableRawPointer(bitPattern: 0)  // RTLD_DEFAULT
        if let f = dlsym(any, "MallocExtension_ReleaseFreeMemory") {
            let release = unsafeBitCast(f, to: (@convention(c) () -> Void).self)
            return { release() }
        }
        if let f = dlsym(any, "malloc_trim") {
            let trim = unsafeBitCast(f, to: (@convention(c) (Int) -> Int32).self)
            return { _ = trim(0) }
        }
        return {}
    }()
}
