import Shared
import Testing

/// Which statements make poold close its idle connections to a database first.
@Suite struct DatabaseCommandTests {
    @Test(arguments: [
        ("DROP DATABASE d_x", ["d_x"]),
        ("drop database if exists \"D x\" with (force)", ["D x"]),
        ("  /* c */ DROP DATABASE Foo", ["foo"]),
        ("ALTER DATABASE d_x RENAME TO d_y", ["d_x"]),
        ("alter database d_x set tablespace t", ["d_x"]),
        ("CREATE DATABASE copy TEMPLATE = src", ["src"]),
        ("create database copy with owner bob template src encoding 'UTF8'", ["src"]),
        ("DROP DATABASE a; DROP DATABASE b", ["a", "b"]),
        ("SELECT 1; DROP DATABASE a", []),
        ("ALTER DATABASE d_x SET work_mem = '1MB'", []),
        ("CREATE DATABASE plain", []),
        ("DROP TABLE database", []),
        ("SELECT 'drop database x'", []),
        ("delete from t", []),
        ("COMMIT", []), ("dropdatabase x", []), ("DROP\tDATABASE\nx", ["x"]),
        ("-- why\nDROP DATABASE x", ["x"]), ("(drop database x)", []),
    ])
    func released(_ sql: String, _ expected: [String]) {
        #expect(DatabaseCommand.databasesToRelease(in: sql) == expected, "\(sql)")
    }
}
