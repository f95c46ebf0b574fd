import Crypto
import _CryptoExtras

/// Pgpool-II's `AES…` password form, as `pg_enc` writes it and pgpool reads it (src/utils/ssl_utils.c):
/// "AES" + base64(AES-256-CBC with PKCS#7 padding of the clear password), key and IV from the pool key
/// (`PoolKey.derived`). There is no salt, so one password under one key always gives the same text.
public enum AESPassword {
    public static let prefix = "AES"

    /// The `AES…` text for `password`.
    public static func encrypt(_ password: String, key: PoolKey) -> String {
        let (k, iv) = key.derived
        // Cannot fail: the key is 32 bytes, the IV 16, and padding makes any length a whole number of blocks.
        let sealed = try! AES._CBC.encrypt(Array(password.utf8), using: SymmetricKey(data: k),
                                           iv: AES._CBC.IV(ivBytes: iv))
        return prefix + Base64.encode(sealed)
    }

    /// The clear password of an `AES…` text; nil when it is not one, its base64 is broken, or `key` is not the
    /// key it was written with (the padding does not check out, or the result is not UTF-8).
    public static func decrypt(_ stored: String, key: PoolKey) -> String? {
        guard stored.hasPrefix(prefix) else { return nil }
        let body = stored.dropFirst(prefix.count).filter { !$0.isWhitespace }
        guard !body.isEmpty, let bytes = Base64.decode(body), !bytes.isEmpty, bytes.count % 16 == 0 else { return nil }
        let (k, iv) = key.derived
        guard let ivValue = try? AES._CBC.IV(ivBytes: iv),
              let clear = try? AES._CBC.decrypt(bytes, using: SymmetricKey(data: k), iv: ivValue) else { return nil }
        let text = String(decoding: clear, as: UTF8.self)
        return ConstantTime.equal(Array(text.utf8), Array(clear)) ? text : nil
    }
}
