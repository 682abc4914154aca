import NIOSSL
import TLSSupport

/// The relay's TLS listener, as Redis's `tls-port`, `tls-cert-file`, `tls-key-file`,
/// `tls-ca-cert-file` and `tls-auth-clients`: certificate files read at start and again on
/// ``RelayServer/reloadCertificates()`` (SIGHUP).
public struct RelayTLS: Sendable, Hashable {
    /// Whether clients must present a certificate signed by the CA (Redis's `tls-auth-clients`).
    public enum ClientAuthentication: String, Sendable, Hashable, CaseIterable {
        /// A client without a valid certificate is refused (Redis's default when a CA is given).
        case yes
        /// Client certificates are neither asked for nor checked.
        case no
        /// A client may present none; one it presents must be valid.
        case optional
    }

    public var host: String
    public var port: Int
    /// PEM file with the server's certificate chain, leaf first.
    public var certificatePath: String
    /// PEM file with the certificate's private key.
    public var keyPath: String
    /// PEM file with the CA certificates client certificates are checked against.
    public var caPath: String?
    /// As set; nil takes the default: `yes` with a CA, `no` without one.
    public var clientAuthentication: ClientAuthentication?
    /// Whether the plain-text listener is off (Redis's `port 0`): clients connect with TLS only.
    public var only: Bool

    /// - Parameter authenticateClients: by default `yes` with a CA, `no` without one.
    public init(host: String = "127.0.0.1", port: Int = 6381, certificatePath: String, keyPath: String, caPath: String? = nil,
                authenticateClients: ClientAuthentication? = nil, only: Bool = false) {
        self.host = host
        self.port = port
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.caPath = caPath
        self.clientAuthentication = authenticateClients
        self.only = only
    }

    /// Whether clients must present a certificate: as set, else `yes` with a CA, `no` without.
    public var authenticateClients: ClientAuthentication {
        clientAuthentication ?? (caPath == nil ? .no : .yes)
    }

    /// Why these settings cannot work regardless of the files' contents, or nil.
    public var inconsistency: String? {
        if authenticateClients != .no && caPath == nil {
            return "auth_clients \(authenticateClients.rawValue) needs a CA file (tls.ca / --tls-ca) to check client certificates against"
        }
        return nil
    }

    /// Reads the certificate, key and CA files into a server context.
    /// - Throws: ``TLSFileError`` naming the file that could not be used and why.
    public func makeContext() throws(TLSFileError) -> NIOSSLContext {
        if let inconsistency { throw TLSFileError(description: inconsistency) }
        let chain = try TLSFiles.certificates("certificate", certificatePath)
        let key = try TLSFiles.privateKey(keyPath)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let caPath {
            configuration.trustRoots = .certificates(try TLSFiles.certificates("CA", caPath))
            configuration.sendCANameList = true
        }
        switch authenticateClients {
        case .yes: configuration.certificateVerification = .noHostnameVerification
        case .no: configuration.certificateVerification = .none
        case .optional: configuration.certificateVerification = .optionalVerification
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSFileError(description: "certificate '\(certificatePath)' and key '\(keyPath)' cannot be used together: \(error)")
        }
    }
}
