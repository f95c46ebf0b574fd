public enum PooldVersion { public static let version = "0.1.0" }
