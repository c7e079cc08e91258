import AMQPClient
import Foundation
import OrderEvents
@testable import OrderService
import Testing

@Suite("POST /orders bodies and Idempotency-Key")
struct OrderRequestTests {
    func parse(_ json: String) throws(OrderRequest.Invalid) -> OrderRequest {
        try OrderRequest(json: Data(json.utf8))
    }

    @Test("a valid body, with quantity defaulting to 1")
    func valid() throws {
        let request = try parse(#"{"user_id":"u1","item":"Pizza"}"#)
        #expect(request.userID == "u1" && request.item == "Pizza" && request.quantity == 1)
        #expect(try parse(#"{"user_id":"u1","item":"Pizza","quantity":100,"note":"extra fields are ignored"}"#).quantity == 100)
        #expect(try parse(#"{"user_id":"u1","item":"Pizza","quantity":55.0}"#).quantity == 55, "an integer, as JSON Schema counts one")
        #expect(try parse(#"{"user_id":"u1","item":"Pizza","quantity":1e1}"#).quantity == 10)
    }

    @Test("each invalid body names its field", arguments: [
        (#"{"item":"Pizza"}"#, "user_id"),
        (#"{"user_id":"u"}"#, "item"),
        (#"{"user_id":null,"item":"Pizza"}"#, "user_id"),
        (#"{"user_id":1,"item":"Pizza"}"#, "user_id"),
        (#"{"user_id":"u","item":["Pizza"]}"#, "item"),
        (#"{"user_id":"u","item":"Pizza","quantity":"1"}"#, "quantity"),
        (#"{"user_id":"u","item":"Pizza","quantity":2.5}"#, "quantity"),
        (#"{"user_id":"u","item":"Pizza","quantity":true}"#, "quantity"),
        (#"{"user_id":"u","item":"Pizza","quantity":0}"#, "quantity"),
        (#"{"user_id":"u","item":"Pizza","quantity":101}"#, "quantity"),
        (#"{"user_id":" ","item":"Pizza"}"#, "user_id"),
        (#"{"user_id":"\u2003","item":"Pizza"}"#, "user_id"),
        (#"{"user_id":"u\u0000","item":"Pizza"}"#, "user_id"),
        (#"{"user_id":"u","item":"Pizza\n"}"#, "item"),
        (#"{"user_id":"u","item":""}"#, "item"),
    ])
    func invalidField(json: String, field: String) {
        #expect { try parse(json) } throws: { ($0 as? OrderRequest.Invalid)?.field == field }
    }

    @Test("64 characters are allowed, 65 are not, counted as code points like JSON Schema's maxLength")
    func lengthLimit() throws {
        let at = String(repeating: "a", count: 64), over = String(repeating: "a", count: 65)
        #expect(try parse(#"{"user_id":"\#(at)","item":"\#(at)"}"#).userID == at)
        #expect { try parse(#"{"user_id":"\#(over)","item":"Pizza"}"#) } throws: { ($0 as? OrderRequest.Invalid)?.field == "user_id" }
        // 40 flags: 40 characters to Swift, 80 code points to JSON Schema.
        let flags = String(repeating: "🇪🇺", count: 40)
        #expect { try parse(#"{"user_id":"\#(flags)","item":"Pizza"}"#) } throws: { ($0 as? OrderRequest.Invalid)?.field == "user_id" }
    }

    @Test("a body that is not a JSON object names no field", arguments: ["{", "[]", "42", ""])
    func notAnObject(json: String) {
        #expect { try parse(json) } throws: { ($0 as? OrderRequest.Invalid)?.field == nil }
    }

    @Test("Idempotency-Key is 1 to 255 printable ASCII characters")
    func idempotencyKey() {
        #expect(IdempotencyKey.validate("a"))
        #expect(IdempotencyKey.validate(String(repeating: "k", count: 255)))
        #expect(!IdempotencyKey.validate(""))
        #expect(!IdempotencyKey.validate(String(repeating: "k", count: 256)))
        #expect(!IdempotencyKey.validate("tab\there"))
        #expect(!IdempotencyKey.validate("café"))
    }

    @Test("Content-Type: JSON and +json media types, with parameters")
    func contentTypes() {
        #expect(OrderRoutes.isJSON("application/json"))
        #expect(OrderRoutes.isJSON("application/json; charset=utf-8"))
        #expect(OrderRoutes.isJSON("Application/JSON"))
        #expect(OrderRoutes.isJSON(" application/json\t; charset=utf-8"))
        #expect(!OrderRoutes.isJSON("application/ json"))
        #expect(OrderRoutes.isJSON("application/vnd.orders+json"))
        #expect(!OrderRoutes.isJSON("text/plain"))
        #expect(!OrderRoutes.isJSON("application/x-www-form-urlencoded"))
    }
}

@Suite("Order status projection rules")
struct OrderStatusTests {
    @Test("statuses only move forward; reserved and rejected are final")
    func monotonic() {
        #expect(OrderStatus.accepted.canMove(to: .reserved))
        #expect(OrderStatus.accepted.canMove(to: .failed))
        #expect(OrderStatus.expired.canMove(to: .reserved))
        #expect(OrderStatus.failed.canMove(to: .rejected))
        #expect(!OrderStatus.reserved.canMove(to: .accepted))
        #expect(!OrderStatus.reserved.canMove(to: .failed))
        #expect(!OrderStatus.rejected.canMove(to: .reserved))
        #expect(!OrderStatus.failed.canMove(to: .expired))
        #expect(!OrderStatus.accepted.canMove(to: .accepted))
    }

    @Test("a dead-lettered OrderPlaced makes the order expired or failed with the reason")
    func deadLetterOutcome() {
        func outcome(_ headers: AMQPTable) -> (OrderStatus, String) { StatusProjection.outcome(of: FailureHeaders(headers).deadLetter) }
        #expect(outcome(["x-death": .array([.table(["reason": "expired"])])]) == (.expired, "expired"))
        #expect(outcome(["x-reason": "poison", "x-error": "missing field 'item'"]) == (.failed, "poison"))
        #expect(outcome(["x-reason": "retries_exhausted"]) == (.failed, "retries_exhausted"))
        #expect(outcome(["x-death": .array([.table(["reason": "delivery_limit"])])]) == (.failed, "delivery_limit"))
        #expect(outcome([:]) == (.failed, "dead_lettered"))
    }

    @Test("a dead-lettered order may be dead-lettered again; nothing else moves sideways")
    func deadLetteredAgain() {
        #expect(OrderStatus.failed.isDeadLettered && OrderStatus.expired.isDeadLettered)
        #expect(!OrderStatus.accepted.isDeadLettered && !OrderStatus.reserved.isDeadLettered && !OrderStatus.rejected.isDeadLettered)
    }

    @Test("a page cursor survives its text form")
    func cursor() throws {
        let cursor = Cursor(createdAt: Date(timeIntervalSince1970: 1_795_000_000.123), orderID: UUID())
        let parsed = try #require(Cursor(cursor.text))
        #expect(parsed.orderID == cursor.orderID)
        #expect(abs(parsed.createdAt.timeIntervalSince1970 - cursor.createdAt.timeIntervalSince1970) < 0.0005)
        #expect(Cursor("nonsense") == nil)
        #expect(Cursor("12_not-a-uuid") == nil)
        #expect(Cursor("+12_\(cursor.orderID.uuidString)") == nil, "digits only, as the OpenAPI pattern says")
    }
}
