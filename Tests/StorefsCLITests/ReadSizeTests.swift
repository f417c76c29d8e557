import Testing
@testable import StoreFUSE

/// The read size chosen from the pipe limit (libfuse's splice needs the reply whole in one pipe).
@Suite struct ReadSizeTests {
    @Test func aReadFitsThePipeWithLibfusesSlack() {
        // The default limit (1 MiB): 252 pages, so 16 + 252 pages + 3 pages of slack fit.
        #expect(ReadSize.maxRead(pipeMax: 1 << 20, pageSize: 4096) == 252 * 4096)
        // A larger limit: the negotiated maximum, no more.
        #expect(ReadSize.maxRead(pipeMax: 4 << 20, pageSize: 4096) == 1 << 20)
        // A tiny limit: still a useful request (128 KiB), libfuse then copies as before.
        #expect(ReadSize.maxRead(pipeMax: 64 << 10, pageSize: 4096) == 128 << 10)
    }

    @Test func anOperatorsMaxReadIsKept() {
        #expect(ReadSize.given(in: ["allow_other,max_read=65536", "ro"]) == 65536)
        #expect(ReadSize.given(in: ["allow_other"]) == nil)
    }
}
