import Foundation
public import Hummingbird
import OrderEvents

/// JSON responses as CONTRACT §2 shapes them, shared by every HTTP route of the system.
public enum JSONResponse {
    public static let contentType = "application/json; charset=utf-8"

    public static func make(_ status: HTTPResponse.Status, _ value: some Encodable, headers: HTTPFields = [:]) -> Response {
        let body = (try? EventCoding.makeEncoder().encode(value)) ?? Data("{}".utf8)
        var headers = headers
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// `{"error": {"message": ..., "field": ...}}`, `field` only when one field is at fault.
    public static func error(_ status: HTTPResponse.Status, _ message: String, field: String? = nil, headers: HTTPFields = [:]) -> Response {
        make(status, ["error": ErrorBody(message: message, field: field)], headers: headers)
    }

    struct ErrorBody: Encodable {
        let message: String
        let field: String?
    }
}

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

extension ServiceSettings {
    public var httpConfiguration: ApplicationConfiguration {
        ApplicationConfiguration(address: .hostname(bindAddress, port: httpPort), serverName: service)
    }
}
