//! Where a recording lives on disk and what it is called: `ACCOUNT/YYYY-MM-DD/NAME.EXT` under
//! the recordings folder, every part built here from encoded text, never a path from a request.
//!
//! The encoding keeps `A-Z a-z 0-9 - _ @` and writes every other byte as `%XX`, so an encoded
//! part holds no `/`, no `.` (hence no `..`, no hidden file, no second extension), no control
//! character, and decodes back to exactly what it was. A part longer than [`MAX_PART`] is cut and
//! ends in `~` and a hash of the whole text (`~` is never produced by the encoding), so distinct
//! names stay distinct and a file name of two parts and an extension fits the usual 255-byte
//! limit.

use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// Longest encoded part (account folder, file stem), in bytes.
pub const MAX_PART: usize = 120;
/// The account folder of a recording that arrived without an account id (`~` can't be produced
/// by the encoding, so no real account maps here).
pub const NO_ACCOUNT: &str = "~none";

/// Encodes text as one safe path part (see the module docs).
pub fn encode_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() <= MAX_PART {
        return out;
    }
    let digest = hex(&Sha256::digest(text.as_bytes())[..8]);
    // Cut on a whole escape: `%XX` must not be split.
    let mut cut = MAX_PART - 1 - digest.len();
    while out.as_bytes()[cut - 1] == b'%' || out.as_bytes()[cut - 2] == b'%' {
        cut -= 1;
    }
    out.truncate(cut);
    out.push('~');
    out.push_str(&digest);
    out
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A recording's id: stable for the same recording, so a retried upload replaces it. Derived
/// from the account, the file's name (without extension), Kazoo's recording id when sent, and
/// the extension; 32 lower-case hex characters, safe in any URL.
pub fn recording_id(account: &str, stem: &str, kazoo_recording_id: &str, ext: &str) -> String {
    let mut hasher = Sha256::new();
    // NUL never occurs in these (it is refused on the way in), so the fields can't run together.
    for field in [account, stem, kazoo_recording_id, ext] {
        hasher.update(field.as_bytes());
        hasher.update([0u8]);
    }
    hex(&hasher.finalize()[..16])
}

/// Whether `text` is an id [`recording_id`] could have made.
pub fn is_recording_id(text: &str) -> bool {
    text.len() == 32
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The path of a new recording relative to the recordings folder:
/// `ACCOUNT/YYYY-MM-DD/STEM[.RECORDING_ID].EXT`, every part encoded.
pub fn relative_path(
    account: &str,
    day: DateTime<Utc>,
    stem: &str,
    kazoo_recording_id: &str,
    ext: &str,
) -> String {
    let account = if account.is_empty() {
        NO_ACCOUNT.to_owned()
    } else {
        encode_part(account)
    };
    let mut name = encode_part(stem);
    if !kazoo_recording_id.is_empty() {
        name.push('.');
        name.push_str(&encode_part(kazoo_recording_id));
    }
    format!("{account}/{}/{name}.{ext}", day.format("%Y-%m-%d"))
}

/// `root/relative`, or `None` when `relative` is not three plain parts (a guard for paths read
/// back from the store: only what [`relative_path`] builds is ever used).
pub fn resolve(root: &Path, relative: &str) -> Option<PathBuf> {
    let path = Path::new(relative);
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    (plain && path.components().count() == 3 && !relative.contains('\0')).then(|| root.join(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_safe_and_reversible() {
        assert_eq!(encode_part("abc123@10.0.0.1"), "abc123@10%2E0%2E0%2E1");
        assert_eq!(
            encode_part("../../etc/passwd"),
            "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"
        );
        assert_eq!(encode_part("a b%:\n"), "a%20b%25%3A%0A");
        assert_eq!(encode_part("é"), "%C3%A9");
        for text in ["..", ".", "/", "a/b", "\u{7f}x", "~none", "%2F"] {
            let enc = encode_part(text);
            assert!(
                enc.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_@%".contains(&b)),
                "{enc}"
            );
        }
        assert_ne!(encode_part("%2F"), encode_part("/"));
    }

    #[test]
    fn long_parts_are_cut_with_a_hash() {
        let long = "x".repeat(500);
        let other = format!("{}y", "x".repeat(499));
        let (a, b) = (encode_part(&long), encode_part(&other));
        assert!(a.len() <= MAX_PART && b.len() <= MAX_PART, "{}", a.len());
        assert_ne!(a, b);
        assert!(a.contains('~'));
        // A cut never splits an escape.
        let dots = ".".repeat(300);
        let enc = encode_part(&dots);
        let (body, _) = enc.split_once('~').unwrap();
        assert!(body.len() % 3 == 0 && body.ends_with("2E"), "{enc}");
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = recording_id("acct", "call_recording_x", "", "mp3");
        assert_eq!(a, recording_id("acct", "call_recording_x", "", "mp3"));
        assert!(is_recording_id(&a), "{a}");
        assert_ne!(a, recording_id("acct", "call_recording_x", "", "wav"));
        assert_ne!(a, recording_id("acct2", "call_recording_x", "", "mp3"));
        assert_ne!(a, recording_id("acct", "call_recording_x", "r1", "mp3"));
        // Fields can't run into each other.
        assert_ne!(
            recording_id("ab", "c", "", "mp3"),
            recording_id("a", "bc", "", "mp3")
        );
        assert!(!is_recording_id("../x"));
        assert!(!is_recording_id(&a.to_uppercase()));
    }

    #[test]
    fn paths_group_by_account_and_day() {
        let day = DateTime::parse_from_rfc3339("2026-03-01T23:59:59Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            relative_path("3a1d", day, "call_recording_a/b.c", "", "mp3"),
            "3a1d/2026-03-01/call_recording_a%2Fb%2Ec.mp3"
        );
        assert_eq!(
            relative_path("", day, "x", "rec 1", "wav"),
            "~none/2026-03-01/x.rec%201.wav"
        );
        let root = Path::new("/data/recordings");
        assert_eq!(
            resolve(root, "a/2026-03-01/x.mp3"),
            Some(root.join("a/2026-03-01/x.mp3"))
        );
        for bad in [
            "../a/b",
            "/etc/passwd/x",
            "a/b",
            "a/../b",
            "a/b/c/d",
            "a/./b",
        ] {
            assert_eq!(resolve(root, bad), None, "{bad}");
        }
    }
}
