public import Hummingbird

extension Router {
    /// The methods that get a 405 on a path whose routes do not serve them. Hummingbird's own
    /// answer to a method no route of a known path serves is 404.
    static var refusableMethods: [HTTPRequest.Method] {
        [.get, .head, .post, .put, .patch, .delete, .options, .trace, HTTPRequest.Method("QUERY")!]
    }

    /// Makes each path that some route serves answer the other methods with 405 Method Not
    /// Allowed, an `Allow` header naming the methods it serves, and the contract's JSON error.
    /// Call once, after every route is on the router.
    public func refuseUnservedMethods() {
        for (_, routes) in Dictionary(grouping: routes, by: \.path.description) {
            let served = Set(routes.map(\.method))
            let allow = served.map(\.rawValue).sorted().joined(separator: ", ")
            for method in Self.refusableMethods where !served.contains(method) {
                on(routes[0].path, method: method) { _, _ in
                    JSONResponse.error(.methodNotAllowed, "\(method.rawValue) is not served here; this path serves \(allow)", headers: [.allow: allow])
                }
            }
        }
    }
}
