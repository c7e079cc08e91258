import Foundation

// The dead-letter inspector (list, show, replay, discard, stats) is not built yet.
FileHandle.standardError.write(Data("dlq-inspector: not available yet\n".utf8))
exit(64)
