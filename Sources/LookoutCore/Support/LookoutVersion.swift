/// Lookout's version, reported in INFO, `lookout --version` and `lookout_build_info` (the
/// Debian package takes its version from here too).
public enum LookoutVersion {
    public static let current = "2.0.0"

    /// The Swift compiler the binary was built with, major and minor.
    public static let swift: String = {
        #if compiler(>=6.4)
        return "6.4+"
        #elseif compiler(>=6.3)
        return "6.3"
        #elseif compiler(>=6.2)
        return "6.2"
        #elseif compiler(>=6.1)
        return "6.1"
        #else
        return "6.0"
        #endif
    }()
}
