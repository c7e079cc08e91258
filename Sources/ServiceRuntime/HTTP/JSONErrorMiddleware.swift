public import Hummingbird

/// Turns errors no route handled into the contract's JSON error shape.
public struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            return JSONResponse.error(error.status, error.body ?? error.status.reasonPhrase)
        } catch let error as any HTTPResponseError {
            return JSONResponse.error(error.status, error.status.reasonPhrase)
        }
    }
}
