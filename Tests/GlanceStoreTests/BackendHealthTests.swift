import Foundation
import Logging
import Synchronization
import Testing
@testable import GlanceStore

/// The circuit breaker every remote driver shares, without a backend: a probe that answers when told.
@Suite struct BackendHealthTests {
    final class Probe: Sendable {
        let answers = Atomic<Bool>(false)
        let calls = Atomic<Int>(0)
    }

    /// Polls `condition` up to 500 times, 20 ms apart: counted in turns rather than seconds, since
    /// the probe runs on the concurrency pool, which the rest of a test run may keep busy — this
    /// loop waits for its turns as the probe does.
    func eventually(_ condition: () -> Bool) async -> Bool {
        for _ in 0..<500 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    func health(_ probe: Probe) -> BackendHealth {
        BackendHealth(backend: "test backend", logger: Logger(label: "test"), probeInterval: .milliseconds(50)) {
            probe.calls.add(1, ordering: .relaxed)
            return probe.answers.load(ordering: .relaxed)
        }
    }

    @Test func noAnswerMarksDownAndEveryRequestFailsAtOnceUntilTheProbeAnswers() async throws {
        let probe = Probe()
        let health = health(probe)
        let ran = Atomic<Int>(0)
        await #expect(throws: StoreError.unreachable("refused")) {
            try await health.guarded { () throws(StoreError) in throw .unreachable("refused") }
        }
        #expect(health.isDown)
        // Down: the request is not even tried, and says so at once.
        let started = ContinuousClock.now
        await #expect { try await health.guarded { () throws(StoreError) in ran.add(1, ordering: .relaxed) } } throws: { error in
            guard case StoreError.unreachable(let text) = error else { return false }
            return text.contains("test backend is down")
        }
        #expect(ran.load(ordering: .relaxed) == 0 && ContinuousClock.now - started < .milliseconds(200))
        // One probe at a time looks for its return; once it answers, requests run again.
        #expect(await eventually { probe.calls.load(ordering: .relaxed) >= 2 })
        #expect(health.isDown)
        probe.answers.store(true, ordering: .relaxed)
        #expect(await eventually { !health.isDown })
        try await health.guarded { () throws(StoreError) in ran.add(1, ordering: .relaxed) }
        #expect(ran.load(ordering: .relaxed) == 1)
        let calls = probe.calls.load(ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(300))
        #expect(probe.calls.load(ordering: .relaxed) == calls, "the probe stops once the backend is up")
    }

    @Test func anAnswerThatIsAnErrorLeavesTheBackendUp() async {
        let health = health(Probe())
        for error in [StoreError.notFound(image: "x"), .remoteServiceUnavailable("HTTP 503"), .forbidden("HTTP 403"), .storageFull("")] {
            await #expect(throws: error) { try await health.guarded { () throws(StoreError) in throw error } }
        }
        #expect(!health.isDown)
        await #expect(throws: StoreError.timedOut("read")) { try await health.guarded { () throws(StoreError) in throw .timedOut("read") } }
        #expect(health.isDown, "a timeout is no answer")
    }

    @Test func cleanUpsWaitForTheBackendAndRunOnceItAnswers() async throws {
        let probe = Probe()
        let health = health(probe)
        let done = Atomic<Int>(0)
        // Up: nothing is put off (the caller does the work, or reports it).
        #expect(!health.retryWhenUp("removing x", after: .unreachable("refused")) { done.add(1, ordering: .relaxed) })
        health.record(.unreachable("refused"))
        // Put off only for a failure that was no answer.
        #expect(!health.retryWhenUp("removing y", after: .forbidden("403")) { done.add(1, ordering: .relaxed) })
        #expect(health.retryWhenUp("removing z", after: .unreachable("refused")) { done.add(1, ordering: .relaxed) })
        #expect(await eventually { probe.calls.load(ordering: .relaxed) >= 2 })
        #expect(done.load(ordering: .relaxed) == 0)
        probe.answers.store(true, ordering: .relaxed)
        #expect(await eventually { done.load(ordering: .relaxed) == 1 })
    }
}
