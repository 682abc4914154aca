import Foundation
import LookoutCore
import Testing

@Suite struct HTTPCredentialsTests {
    @Test func sourcesAreBasicOrBearerWithAFile() {
        #expect(HTTPCredentials.Source("bearer:/etc/token") == .init(kind: .bearer, path: "/etc/token"))
        #expect(HTTPCredentials.Source("basic:relative/file:with:colons")?.path == "relative/file:with:colons")
        for text in ["bearer:", "token:/x", "/etc/token", "", "Basic:/x"] {
            #expect(HTTPCredentials.Source(text) == nil, "\(text)")
        }
    }

    @Test func fileTextIsOneLineAndBasicNeedsAUserAndAPassword() throws {
        let bearer = HTTPCredentials.Source(kind: .bearer, path: "t")
        let basic = HTTPCredentials.Source(kind: .basic, path: "b")
        #expect(try HTTPCredentials(bearer, text: "abc\n") == .bearer(token: "abc"))
        #expect(try HTTPCredentials(bearer, text: "abc\r\n") == .bearer(token: "abc"))
        #expect(try HTTPCredentials(basic, text: "ops:pa:ss") == .basic(user: "ops", password: "pa:ss"))
        for (source, text) in [(bearer, ""), (bearer, "\n"), (bearer, "a\nb\n"), (basic, "nopassword"), (basic, ":pw"), (basic, "user:")] {
            #expect(throws: HTTPCredentialsError.self, "\(text.debugDescription)") { try HTTPCredentials(source, text: text) }
        }
    }

    @Test func onlyTheExactHeaderIsAccepted() {
        let bearer = HTTPCredentials.bearer(token: "s3cret")
        #expect(bearer.accepts(authorization: "Bearer s3cret"))
        for header in [nil, "", "Bearer s3cre", "Bearer s3cret ", "Bearer S3cret", "bearer s3cret", "Basic s3cret", "Bearer s3cretX"] {
            #expect(!bearer.accepts(authorization: header), "\(header ?? "nil")")
        }
        let basic = HTTPCredentials.basic(user: "ops", password: "pw")
        #expect(basic.authorizationHeader == "Basic " + Data("ops:pw".utf8).base64EncodedString())
        #expect(basic.accepts(authorization: basic.authorizationHeader))
        #expect(!basic.accepts(authorization: HTTPCredentials.basic(user: "ops", password: "pW").authorizationHeader))
    }
}
