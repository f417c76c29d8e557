/// Thin provisioning (file and rbd drivers): whether a range holds only zeros, a word at a time.
enum Zeros {
    static func only(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard var p = bytes.baseAddress else { return true }
        var words = bytes.count / 8
        while words > 0 {
            if p.loadUnaligned(as: UInt64.self) != 0 { return false }
            p += 8
            words -= 1
        }
        for i in (bytes.count & ~7)..<bytes.count where bytes[i] != 0 { return false }
        return true
    }
}
