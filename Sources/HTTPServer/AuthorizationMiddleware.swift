import Hummingbird
import LookoutCore

/// Refuses requests without the credentials (401 with a challenge) before any route runs.
struct AuthorizationMiddleware<Context: RequestContext>: RouterMiddleware {
    let credentials: HTTPCredentials

    @concurrent func handle(_ request: Request, context: Context, next: @concurrent (Request, Context) async throws -> Response) async throws -> Response {
        guard credentials.accepts(authorization: request.headers[.authorization]) else {
            return Response(status: .unauthorized, headers: [.wwwAuthenticate: credentials.challenge],
                            body: .init(byteBuffer: ByteBuffer(string: "unauthorized: see --metrics-auth\n")))
        }
        return try await next(request, context)
    }
}
