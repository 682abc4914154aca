#if canImport(Glibc)
import Glibc
#endif
import NIOSSL

/// Reading PEM files for TLS, with errors that name the file and say what is wrong with it.
public enum TLSFiles {
    /// The certificates in a PEM file (at least one).
    public static func certificates(_ what: String, _ path: String) throws(TLSFileError) -> [NIOSSLCertificate] {
        let certificates = try load(what, path) { try NIOSSLCertificate.fromPEMFile($0) }
        guard !certificates.isEmpty else { throw TLSFileError(description: "the \(what) file '\(path)' holds no PEM certificate") }
        return certificates
    }

    /// The private key in a PEM file.
    public static func privateKey(_ path: String) throws(TLSFileError) -> NIOSSLPrivateKey {
        try load("key", path) { try NIOSSLPrivateKey(file: $0, format: .pem) }
    }

    private static func load<T>(_ what: String, _ path: String, _ body: (String) throws -> T) throws(TLSFileError) -> T {
        guard access(path, R_OK) == 0 else {
            throw TLSFileError(description: "cannot read the \(what) file '\(path)': \(String(cString: strerror(errno)))")
        }
        do {
            return try body(path)
        } catch {
            throw TLSFileError(description: "the \(what) file '\(path)' is not PEM that TLS can use: \(error)")
        }
    }
}

/// A TLS certificate, key or CA file that cannot be used.
public struct TLSFileError: Error, CustomStringConvertible {
    public var description: String

    public init(description: String) {
        self.description = description
    }
}
