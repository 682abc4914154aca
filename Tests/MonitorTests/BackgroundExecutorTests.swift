#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

@testable import Monitor

/// The monitor's own thread: tasks that prefer it run there, below the caller's priority.
@Suite struct BackgroundExecutorTests {
    /// The calling thread's name, as the kernel has it (at most 15 bytes).
    private static func threadName() -> String {
        let comm = FileManager.default.contents(atPath: "/proc/thread-self/comm") ?? Data()
        return String(decoding: comm, as: UTF8.self).trimmingCharacters(in: .newlines)
    }

    @Test func tasksPreferringItRunOnItsThreadAtALowerPriority() async {
        let executor = BackgroundExecutor(name: "lookout-test-bg", niceness: 5)
        defer { executor.stop() }
        let base = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        let (name, nice) = await withTaskExecutorPreference(executor) {
            // After a suspension too: the task resumes on the same thread.
            try? await Task.sleep(for: .milliseconds(10))
            return (Self.threadName(), getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
        }
        #expect(name == "lookout-test-bg")
        #expect(nice == min(19, base + 5), "nice \(nice), the process's \(base)")
    }
}
