import Foundation
public import Hummingbird
public import OrderEvents

/// JSON responses as CONTRACT §2 shapes them, shared by every HTTP route of the system.
public enum JSONResponse {
    public static let contentType = "application/json; charset=utf-8"

    public static func make(_ status: HTTPResponse.Status, _ value: some Encodable, headers: HTTPFields = [:]) -> Response {
        make(status, body: (try? EventCoding.makeEncoder().encode(value)) ?? Data("{}".utf8), headers: headers)
    }

    /// A flat object written by hand, for an answer on a hot path (`202 Accepted`).
    public static func make(_ status: HTTPResponse.Status, _ object: JSONObjectWriter, headers: HTTPFields = [:]) -> Response {
        make(status, body: object.data, headers: headers)
    }

    private static func make(_ status: HTTPResponse.Status, body: Data, headers: HTTPFields) -> Response {
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
