#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A thread of its own, at a lower scheduling priority than the relay's event loop, that runs
/// the tasks preferring it (``ChannelMonitor`` runs its loop here): on a machine whose cores the
/// relay keeps busy, watching yields the core to delivering instead of taking turns with it.
public final class BackgroundExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` is read and written under `condition` only.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var jobsStart = 0
    private var stopping = false

    private let name: String
    private let niceness: Int32
    private var started = false

    /// - Parameters:
    ///   - name: the thread's name (as `top -H` shows it).
    ///   - niceness: the thread's nice value (Linux: per thread; 0 is the usual one); 10 by default.
    /// The thread starts with the first job.
    public init(name: String, niceness: Int32 = 10) {
        self.name = name
        self.niceness = niceness
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        if !started {
            started = true
            startThread()
        }
        condition.signal()
        condition.unlock()
    }

    private func startThread() {
        let (name, niceness) = (name, niceness)
        let thread = Thread { [self] in
            #if canImport(Glibc)
            // On Linux PRIO_PROCESS with 0 is the calling thread alone; the name is the thread's
            // own `comm` (prctl is variadic, out of Swift's reach).
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
            if let comm = fopen("/proc/thread-self/comm", "w") {
                fputs(String(name.utf8.prefix(15)) ?? name, comm)
                fclose(comm)
            }
            #endif
            runJobs()
        }
        thread.start()
    }

    /// Ends the thread once the jobs queued so far have run (call it when the tasks that prefer
    /// this executor have ended).
    public func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    /// Runs jobs as they come, until ``stop()``.
    private func runJobs() {
        while true {
            condition.lock()
            while jobsStart == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                jobsStart = 0
                if stopping {
                    condition.unlock()
                    return
                }
                condition.wait()
            }
            let job = jobs[jobsStart]
            jobsStart += 1
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
