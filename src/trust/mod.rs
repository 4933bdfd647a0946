//! Signatures an auditor can check without credo: Ed25519 (RFC 8032) over
//! domain-separated messages, and signed JSON documents (disclosures,
//! checkpoints) in a canonical form a few lines of Python reproduce.
//!
//! Why it exists: a bundle or a disclosure proves what it says only if the
//! reader knows who issued it; a store's public key, published once, lets
//! anyone check every document the store issues, and a signed checkpoint of
//! the audit log pins its head outside the store.
//!
//! Invariants: no IO (keys arrive as bytes; the store keeps the key file);
//! every signed message starts with `credo-signature-v1`, a NUL, the
//! document type and a NUL, so a signature on one kind of document never
//! verifies as another. The algorithms are in docs/draw-spec.md §11.

use ed25519_dalek::{Signer, Verifier};

use crate::i18n::{Lang, Text};

/// The prefix of every signed message.
pub const SIGNATURE_TAG: &str = "credo-signature-v1";

/// The only signature algorithm credo uses.
pub const ALGORITHM: &str = "ed25519";

/// Why a key, a signature or a signed document is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("public key: {0}")]
    PublicKey(Text),
    #[error("signing key: {0}")]
    SigningKey(Text),
    #[error("the signature is not valid: {what} was changed after signing, or signed by another key")]
    BadSignature { what: String },
    #[error("signed by key {found}, but the key given to check against is {expected}")]
    OtherKey { found: String, expected: String },
    #[error("{what} carries no signature")]
    Unsigned { what: String },
    #[error("signature: {0}")]
    Malformed(Text),
    #[error("document: {0}")]
    Document(Text),
}

impl TrustError {
    /// What the user reads, in both languages (`Display` is the English).
    /// Keys, hashes and what was signed keep their form.
    pub fn text(&self) -> Text {
        match self {
            TrustError::PublicKey(m) => m.map(|lang, m| match lang {
                Lang::Zh => format!("公钥：{m}"),
                Lang::En => format!("public key: {m}"),
            }),
            TrustError::SigningKey(m) => m.map(|lang, m| match lang {
                Lang::Zh => format!("签名私钥：{m}"),
                Lang::En => format!("signing key: {m}"),
            }),
            TrustError::BadSignature { what } => crate::tr!(
                "签名无效：{what} 在签名后被改动过，或由另一把密钥签名",
                "the signature is not valid: {what} was changed after signing, or signed by another key"
            ),
            TrustError::OtherKey { found, expected } => crate::tr!(
                "签名密钥为 {found}，但用于核对的密钥是 {expected}",
                "signed by key {found}, but the key given to check against is {expected}"
            ),
            TrustError::Unsigned { what } => crate::tr!("{what} 没有签名", "{what} carries no signature"),
            TrustError::Malformed(m) => m.map(|lang, m| match lang {
                Lang::Zh => format!("签名：{m}"),
                Lang::En => format!("signature: {m}"),
            }),
            TrustError::Document(m) => m.map(|lang, m| match lang {
                Lang::Zh => format!("文档：{m}"),
                Lang::En => format!("document: {m}"),
            }),
        }
    }
}

/// An Ed25519 public key (32 bytes, written as 64 lower-case hex digits).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl PublicKey {
    /// Parses 64 hex digits (surrounding white space is ignored, so a key
    /// file can be given as it is).
    pub fn from_hex(s: &str) -> Result<PublicKey, TrustError> {
        let s = s.trim();
        let bytes = hex::decode(s).map_err(|e| {
            TrustError::PublicKey(crate::tr!("'{s}' 不是十六进制：{e}", "'{s}' is not hexadecimal: {e}"))
        })?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            TrustError::PublicKey(crate::tr!(
                "须为 32 字节（64 个十六进制数字），实为 {}",
                "must be 32 bytes (64 hex digits), found {}",
                b.len()
            ))
        })?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map(PublicKey).map_err(|_| {
            TrustError::PublicKey(crate::tr!("{s} 不是 Ed25519 曲线上的点", "{s} is not a point on Ed25519"))
        })
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// Checks `signature` on `payload` signed for `doc_type`.
    pub fn verify(&self, doc_type: &str, payload: &[u8], signature: &[u8; 64], what: &str) -> Result<(), TrustError> {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.0
            .verify(&message(doc_type, payload), &sig)
            .map_err(|_| TrustError::BadSignature { what: what.to_string() })
    }
}

/// An Ed25519 signing key. Its bytes never leave the store's key file.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(public {})", self.public_key())
    }
}

impl SigningKey {
    /// The key of a 32-byte secret seed (RFC 8032 §5.1.5).
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// A new key from the operating system's random source.
    pub fn generate() -> Result<SigningKey, TrustError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| {
            TrustError::SigningKey(crate::tr!("无法取得操作系统随机数：{e}", "no operating-system randomness: {e}"))
        })?;
        Ok(SigningKey::from_seed(&seed))
    }

    /// The seed, for the key file only.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `payload` for a document of type `doc_type`.
    pub fn sign(&self, doc_type: &str, payload: &[u8]) -> [u8; 64] {
        self.0.sign(&message(doc_type, payload)).to_bytes()
    }
}

/// `credo-signature-v1 NUL doc_type NUL payload`: what is really signed.
pub fn message(doc_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNATURE_TAG.len() + doc_type.len() + 2 + payload.len());
    m.extend_from_slice(SIGNATURE_TAG.as_bytes());
    m.push(0);
    m.extend_from_slice(doc_type.as_bytes());
    m.push(0);
    m.extend_from_slice(payload);
    m
}

/// Parses 128 hex digits of a signature.
pub fn signature_from_hex(s: &str) -> Result<[u8; 64], TrustError> {
    let bytes = hex::decode(s)
        .map_err(|e| TrustError::Malformed(crate::tr!("'{s}' 不是十六进制：{e}", "'{s}' is not hexadecimal: {e}")))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        TrustError::Malformed(crate::tr!(
            "须为 64 字节（128 个十六进制数字），实为 {}",
            "must be 64 bytes (128 hex digits), found {}",
            b.len()
        ))
    })
}

// ---------------------------------------------------------------- documents

/// A signed JSON document after its signature was checked.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedDocument {
    /// The `type` member (e.g. `credo-checkpoint-v1`).
    pub doc_type: String,
    pub signer: PublicKey,
    /// The document without its `signature` member.
    pub body: serde_json::Value,
}

/// The canonical text of a JSON value: object members sorted by the UTF-8
/// bytes of their names, no white space, strings escaped as JSON requires
/// and nothing more (`"` `\` and control characters; `\b \f \n \r \t` by
/// name, others as `\u00xx` with lower-case hex), numbers as integers only.
/// Python's `json.dumps(v, sort_keys=True, separators=(",", ":"),
/// ensure_ascii=False)` gives the same text.
pub fn canonical_json(v: &serde_json::Value) -> Result<String, TrustError> {
    let mut out = String::new();
    write_canonical(v, &mut out)?;
    Ok(out)
}

fn write_canonical(v: &serde_json::Value, out: &mut String) -> Result<(), TrustError> {
    use serde_json::Value;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if !(n.is_i64() || n.is_u64()) {
                return Err(TrustError::Document(crate::tr!(
                    "数值 {n} 不是整数；签名文档只含整数",
                    "the number {n} is not an integer; signed documents hold integers only"
                )));
            }
            out.push_str(&n.to_string());
        }
        Value::String(s) => write_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out)?;
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_canonical(&m[k], out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Adds a `signature` member to a JSON object that has a string `type`
/// member: Ed25519 over [`message`]`(type, canonical_json(object))`.
pub fn sign_document(key: &SigningKey, mut doc: serde_json::Value) -> Result<serde_json::Value, TrustError> {
    let doc_type = doc_type(&doc)?;
    let obj = doc.as_object_mut().expect("checked by doc_type");
    if obj.contains_key("signature") {
        return Err(TrustError::Document(crate::tr!("已有 signature 成员", "already has a signature member")));
    }
    let payload = canonical_json(&serde_json::Value::Object(obj.clone()))?;
    let sig = key.sign(&doc_type, payload.as_bytes());
    obj.insert(
        "signature".into(),
        serde_json::json!({ "algorithm": ALGORITHM, "public_key": key.public_key().to_hex(), "value": hex::encode(sig) }),
    );
    Ok(doc)
}

fn doc_type(doc: &serde_json::Value) -> Result<String, TrustError> {
    let obj =
        doc.as_object().ok_or_else(|| TrustError::Document(crate::tr!("不是 JSON 对象", "is not a JSON object")))?;
    obj.get("type")
        .and_then(|t| t.as_str())
        .map(str::to_string)
        .ok_or_else(|| TrustError::Document(crate::tr!("没有字符串成员 'type'", "has no string member 'type'")))
}

/// Checks a signed JSON document. With `expected`, the signer must be that
/// key; without it, the key the document names is reported back (it proves
/// integrity only if the caller trusts that key).
pub fn verify_document(text: &str, expected: Option<&PublicKey>) -> Result<VerifiedDocument, TrustError> {
    let mut doc: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| TrustError::Document(crate::tr!("不是 JSON：{e}", "is not JSON: {e}")))?;
    let doc_type = doc_type(&doc)?;
    let obj = doc.as_object_mut().expect("checked by doc_type");
    let what = format!("the {doc_type} document");
    let sig = obj.remove("signature").ok_or_else(|| TrustError::Unsigned { what: what.clone() })?;
    let field = |name: &str| {
        sig.get(name).and_then(|v| v.as_str()).map(str::to_string).ok_or_else(|| {
            TrustError::Malformed(crate::tr!(
                "签名没有字符串成员 '{name}'",
                "the signature has no string member '{name}'"
            ))
        })
    };
    let algorithm = field("algorithm")?;
    if algorithm != ALGORITHM {
        return Err(TrustError::Malformed(crate::tr!(
            "算法 '{algorithm}' 不是 {ALGORITHM}",
            "algorithm '{algorithm}' is not {ALGORITHM}"
        )));
    }
    let signer = PublicKey::from_hex(&field("public_key")?)?;
    if let Some(k) = expected
        && *k != signer
    {
        return Err(TrustError::OtherKey { found: signer.to_hex(), expected: k.to_hex() });
    }
    let value = signature_from_hex(&field("value")?)?;
    let body = serde_json::Value::Object(obj.clone());
    let payload = canonical_json(&body)?;
    signer.verify(&doc_type, payload.as_bytes(), &value, &what)?;
    Ok(VerifiedDocument { doc_type, signer, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_seed(&[7u8; 32])
    }

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 §7.1, TEST 1 (empty message), signed without our prefix.
        let seed: [u8; 32] = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap()
            .try_into()
            .unwrap();
        let k = ed25519_dalek::SigningKey::from_bytes(&seed);
        assert_eq!(
            hex::encode(k.verifying_key().to_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(k.sign(b"").to_bytes()),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn signatures_are_bound_to_their_document_type() {
        let k = key();
        let sig = k.sign("credo-checkpoint-v1", b"payload");
        let pk = k.public_key();
        assert!(pk.verify("credo-checkpoint-v1", b"payload", &sig, "x").is_ok());
        assert!(pk.verify("credo-disclosure-v2", b"payload", &sig, "x").is_err());
        assert!(pk.verify("credo-checkpoint-v1", b"payloaD", &sig, "x").is_err());
        assert_eq!(PublicKey::from_hex(&pk.to_hex()).unwrap(), pk);
        assert!(PublicKey::from_hex("abc").is_err());
    }

    #[test]
    fn canonical_json_matches_python() {
        let v = serde_json::json!({ "b": [1, -2, "x\"y\\z\n\t\u{1}é"], "a": null, "c": { "z": true, "y": false } });
        assert_eq!(
            canonical_json(&v).unwrap(),
            r#"{"a":null,"b":[1,-2,"x\"y\\z\n\t\u0001é"],"c":{"y":false,"z":true}}"#
        );
        assert!(canonical_json(&serde_json::json!({ "f": 1.5 })).is_err());
    }

    #[test]
    fn signed_documents_round_trip_and_detect_changes() {
        let k = key();
        let doc = sign_document(&k, serde_json::json!({ "type": "credo-checkpoint-v1", "entries": 5, "head": "ab" }))
            .unwrap();
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let v = verify_document(&text, Some(&k.public_key())).unwrap();
        assert_eq!(v.doc_type, "credo-checkpoint-v1");
        assert_eq!(v.body["entries"], 5);
        let forged = text.replace("\"entries\": 5", "\"entries\": 4");
        assert!(matches!(verify_document(&forged, None), Err(TrustError::BadSignature { .. })));
        let other = SigningKey::from_seed(&[8u8; 32]).public_key();
        assert!(matches!(verify_document(&text, Some(&other)), Err(TrustError::OtherKey { .. })));
        let unsigned = serde_json::json!({ "type": "credo-checkpoint-v1" }).to_string();
        assert!(matches!(verify_document(&unsigned, None), Err(TrustError::Unsigned { .. })));
    }
}
