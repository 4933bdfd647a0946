//! The store's identity: a random store id (so plan ids `{store_id}/{n}`
//! are unique across stores) and an Ed25519 signing key, both made when
//! the store is first opened and recorded (id and public key) in
//! `store_meta` and in the audit log.
//!
//! The private key lives in a file next to the store (`<store>.ed25519`,
//! readable by its owner only), never in the database and never served by
//! the API; a store whose key file is missing or does not match the
//! recorded public key refuses to open rather than silently sign with a
//! new key.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, StoreError, audit};
use crate::model::AuditAction;
use crate::trust::{PublicKey, SigningKey};

/// Who a store is.
pub struct Identity {
    pub store_id: String,
    key: SigningKey,
}

impl Identity {
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// The key documents are signed with. Crate-internal: only `ops`
    /// signs, and nothing hands the key out.
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({}, {})", self.store_id, self.public_key())
    }
}

/// Where the private key of the store at `store` lives.
pub fn key_path(store: &Path) -> PathBuf {
    let mut name = store.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".ed25519");
    store.with_file_name(name)
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn.query_row("SELECT value FROM store_meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
}

/// The recorded (store id, public key), if the store has an identity.
pub fn recorded(conn: &Connection) -> Result<Option<(String, String)>> {
    Ok(match (meta(conn, "store_id")?, meta(conn, "public_key")?) {
        (Some(id), Some(k)) => Some((id, k)),
        _ => None,
    })
}

/// A random id in the shape of a UUID (version 4).
fn new_store_id() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| StoreError::Other(format!("no operating-system randomness: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
}

fn read_key(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path).map_err(|e| StoreError::Other(format!("{}: {e}", path.display())))?;
    let bytes = crate::model::parse_hex32(text.trim())
        .map_err(|_| StoreError::Other(format!("{}: not a signing key (64 hex digits)", path.display())))?;
    Ok(SigningKey::from_seed(&bytes))
}

fn write_key(path: &Path, key: &SigningKey) -> Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path).map_err(|e| StoreError::Other(format!("{}: {e}", path.display())))?;
    writeln!(f, "{}", hex::encode(key.seed()))
        .and_then(|_| f.sync_all())
        .map_err(|e| StoreError::Other(format!("{}: {e}", path.display())))
}

/// Opens the identity of a store, creating it on first open. `key_file` is
/// `None` for an in-memory store (an ephemeral key).
pub(crate) fn open(conn: &mut Connection, key_file: Option<&Path>) -> Result<Identity> {
    if let Some((store_id, public)) = recorded(conn)? {
        let Some(path) = key_file else {
            return Err(StoreError::Other("an in-memory store cannot have a recorded identity".into()));
        };
        if !path.exists() {
            return Err(StoreError::Other(format!(
                "the store's signing key {} is missing (its public key is {public}); restore it from a backup: \
                 credo will not sign with a new key",
                path.display()
            )));
        }
        let key = read_key(path)?;
        if key.public_key().to_hex() != public {
            return Err(StoreError::Other(format!(
                "the signing key {} has public key {}, but the store recorded {public}",
                path.display(),
                key.public_key()
            )));
        }
        return Ok(Identity { store_id, key });
    }
    let key = match key_file {
        Some(path) if path.exists() => read_key(path)?,
        Some(path) => {
            let k = SigningKey::generate().map_err(|e| StoreError::Other(e.to_string()))?;
            write_key(path, &k)?;
            k
        }
        None => SigningKey::generate().map_err(|e| StoreError::Other(e.to_string()))?,
    };
    let store_id = new_store_id()?;
    let public = key.public_key().to_hex();
    let tx = conn.transaction()?;
    tx.execute("INSERT INTO store_meta (key, value) VALUES ('store_id', ?1)", params![store_id])?;
    tx.execute("INSERT INTO store_meta (key, value) VALUES ('public_key', ?1)", params![public])?;
    audit::append(
        &tx,
        "system",
        AuditAction::StoreIdentity,
        &format!("store/{store_id}"),
        &serde_json::json!({ "store_id": store_id, "public_key": public, "algorithm": crate::trust::ALGORITHM }),
    )?;
    tx.commit()?;
    Ok(Identity { store_id, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_made_once_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let first = crate::store::Store::open(&db).unwrap();
        let (id, key) = (first.identity().store_id.clone(), first.identity().public_key());
        drop(first);
        assert_eq!(key_path(&db), dir.path().join("s.db.ed25519"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_path(&db)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key file is readable by its owner only");
        }
        let again = crate::store::Store::open(&db).unwrap();
        assert_eq!((again.identity().store_id.clone(), again.identity().public_key()), (id, key));
        drop(again);
        std::fs::remove_file(key_path(&db)).unwrap();
        let err = crate::store::Store::open(&db).err().expect("refused").to_string();
        assert!(err.contains("signing key") && err.contains("missing"), "{err}");
        write_key(&key_path(&db), &SigningKey::from_seed(&[1; 32])).unwrap();
        let err = crate::store::Store::open(&db).err().expect("refused").to_string();
        assert!(err.contains("but the store recorded"), "{err}");
    }
}
