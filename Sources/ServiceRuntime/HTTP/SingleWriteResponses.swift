import Hummingbird
import NIOCore

/// Sends a response whose body has a known length in one write again. Hummingbird writes a
/// response's head, body and end at once when the body is a buffer, but its
/// `MetricsMiddleware` and `TracingMiddleware` wrap every body in a closure, to record once it
/// is written, and a wrapped body goes out in two writes: the head, then the body. Each is a
/// system call, a TCP segment and a wake-up of the client; on this project's benchmark machine
/// the second was a sixth of what order-api spent on a `POST /orders`. Added before those
/// middlewares, this one runs such a body into a buffer (their recording with it) and answers
/// with the buffer. A body of unknown length, an event stream, goes on as it is.
struct SingleWriteResponses<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        guard let length = response.body.contentLength else { return response }
        let body = CollectedBody(capacity: length)
        try await response.body.write(body)
        response.body = ResponseBody(byteBuffer: body.buffer)
        return response
    }
}

/// What a response body writes, kept in one buffer.
private final class CollectedBody: ResponseBodyWriter {
    private(set) var buffer: ByteBuffer

    init(capacity: Int) {
        buffer = ByteBuffer()
        buffer.reserveCapacity(capacity)
    }

    func write(_ part: ByteBuffer) async throws {
        buffer.writeImmutableBuffer(part)
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
