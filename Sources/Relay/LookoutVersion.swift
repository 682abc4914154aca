#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Lookout's version, reported in INFO and `lookout --version`.
public enum LookoutVersion {
    public static let current = "0.1.0"
}

enum ProcessInfoShim {
    static var pid: Int32 { getpid() }
}
