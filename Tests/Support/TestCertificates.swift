#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A certificate authority made by `openssl` for one test, in a temporary directory removed
/// with it: its certificate, and server and client certificates it signs (EC P-256, two days).
/// Server certificates name 127.0.0.1, ::1 and localhost.
package final class TestCertificates: Sendable {
    package let directory: String
    /// The CA's certificate (PEM): what clients trust and the server checks client certificates against.
    package let caPath: String
    private let caKeyPath: String

    package init(name: String = "ca") throws {
        directory = NSTemporaryDirectory() + "lookout-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        caPath = "\(directory)/\(name).crt"
        caKeyPath = "\(directory)/\(name).key"
        try Self.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                          "-keyout", caKeyPath, "-out", caPath, "-days", "2", "-subj", "/CN=Lookout test CA \(name)"])
    }

    /// A certificate signed by this CA, and its key: `(certificate, key)` paths.
    /// - Parameter server: names 127.0.0.1, ::1 and localhost when true; a client's otherwise.
    package func issue(_ name: String, server: Bool) throws -> (certificate: String, key: String) {
        let key = "\(directory)/\(name).key"
        let request = "\(directory)/\(name).csr"
        let certificate = "\(directory)/\(name).crt"
        var extensions = ["-addext", server ? "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost" : "subjectAltName=DNS:\(name)"]
        extensions += ["-addext", "extendedKeyUsage=\(server ? "serverAuth" : "clientAuth")"]
        try Self.openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                          "-keyout", key, "-out", request, "-subj", "/CN=\(name)"] + extensions)
        try Self.openssl(["x509", "-req", "-in", request, "-CA", caPath, "-CAkey", caKeyPath, "-CAcreateserial",
                          "-copy_extensions", "copy", "-days", "2", "-out", certificate])
        return (certificate, key)
    }

    private static func openssl(_ arguments: [String]) throws {
        let result = try runCommand(try executable("openssl"), arguments)
        guard result.status == 0 else { throw TestFailure("openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(result.output)") }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
