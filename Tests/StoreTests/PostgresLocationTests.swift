import Foundation
import Testing
@testable import Store

/// `postgres://` URLs as libpq reads them: the user, password and database are percent-decoded
/// exactly once, and no part of a password is ever shown, even in a URL that does not parse.
@Suite struct PostgresLocationTests {
    /// Parses without the process's PG* variables or password file.
    func location(_ text: String) throws -> PostgresLocation {
        try PostgresLocation(text, environment: [:], home: "/nonexistent")
    }

    @Test func userPasswordAndDatabaseAreDecodedOnce() throws {
        let cases: [(url: String, user: String, password: String?, database: String)] = [
            ("postgres://lamm:pct%25sign@127.0.0.1:5432/lamm", "lamm", "pct%sign", "lamm"),
            ("postgres://lamm:x%2541y@127.0.0.1/lamm", "lamm", "x%41y", "lamm"),
            ("postgres://lamm:a%25b%40c%2541d@127.0.0.1/lamm", "lamm", "a%b@c%41d", "lamm"),
            ("postgresql://u%2541%40x:p%3Aw@db.example/d%2541b%20c", "u%41@x", "p:w", "d%41b c"),
            ("postgres://lamm@127.0.0.1/lamm?password=q%2541%40", "lamm", "q%41@", "lamm"),
            ("postgres://lamm:@127.0.0.1/lamm", "lamm", "", "lamm"),
            ("postgres://lamm@127.0.0.1/lamm", "lamm", nil, "lamm"),
        ]
        for (url, user, password, database) in cases {
            let parsed = try location(url)
            #expect(parsed.user == user, "\(url)")
            #expect(parsed.password == password, "\(url)")
            #expect(parsed.database == database, "\(url)")
            if let password, !password.isEmpty { #expect(!parsed.redacted.contains(password), "\(url): \(parsed.redacted)") }
        }
        #expect(try location("postgres://lamm:pw@127.0.0.1:55432/lamm").port == 55432)
    }

    /// Pieces of each password that must never be printed.
    static let secrets = ["Qz7", "Wx9", "Kv3"]

    @Test func noPartOfAPasswordIsShownEvenForAMalformedURL() throws {
        let urls = [
            // An unencoded '@' in the password, with a port that does not parse.
            "postgres://lamm:Qz7@Wx9@127.0.0.1:99999/lamm",
            // Unencoded '/', '?' and '#', which no URL parser takes in a password.
            "postgres://lamm:Qz7/Wx9@127.0.0.1:5432/lamm",
            "postgres://lamm:Qz7?Wx9@Kv3@127.0.0.1:5432/lamm",
            "postgres://lamm:Qz7#Wx9@127.0.0.1:5432/lamm",
            "postgres://lamm:Qz7@Wx9@127.0.0.1:5432/lamm?sslmode=sometimes",
            "postgres://lamm@127.0.0.1/lamm?password=Qz7Wx9&nonsense=1",
        ]
        for url in urls {
            let shown: String
            do {
                shown = try location(url).redacted
            } catch let error as StoreError {
                shown = error.description
            }
            for secret in Self.secrets { #expect(!shown.contains(secret), "\(url) shown as: \(shown)") }
            #expect(shown.contains("lamm"), "\(url) shown as: \(shown)")
        }
        // The user and the host are kept.
        #expect(PostgresLocation.redact("postgres://lamm:Qz7/Wx9@Kv3@db.example:5432/lamm") == "postgres://lamm@db.example:5432/lamm")
        #expect(PostgresLocation.redact("postgres://db.example/lamm") == "postgres://db.example/lamm")
    }
}
