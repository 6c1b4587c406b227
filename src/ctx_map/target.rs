//! Bridge destinations as written in a script or an `[extensions]` value: `device:ID`,
//! `user:ID`, `ring_group:ID[,ID…]`, `callflow:ID`, or a phone number.
//!
//! A number is "long" when it has at least [`LONG_NUMBER_DIGITS`] digits, or is E.164 (`+` then
//! 7 to 15 digits): only those may go out through the carriers. Shorter ones are extensions,
//! looked up in `[extensions]` (see [`super::bridge::resolve`]).

use crate::callflow::EndpointType;

/// Digits from which a number without `+` is dialled out rather than taken as an extension.
pub const LONG_NUMBER_DIGITS: usize = 7;

/// Most digits an E.164 number has.
const MAX_E164_DIGITS: usize = 15;

/// Longest id accepted in a target (Kazoo's ring group endpoints allow 128).
const MAX_ID: usize = 128;

/// Where a bridge goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One device document.
    Device(String),
    /// Every device of a user document.
    User(String),
    /// Several endpoints rung as a group.
    RingGroup(Vec<(EndpointType, String)>),
    /// A callflow stored in the PBX (the call leaves the script for good).
    Callflow(String),
    /// A long or E.164 number dialled through the carriers, as `to_did`.
    Number(String),
    /// A short number: an extension, to be found in `[extensions]`.
    Extension(String),
}

/// What a destination may look like, for error messages.
pub const FORMS: &str = "device:ID, user:ID, ring_group:ID[,ID…] (each ID may be written \
    device:ID, user:ID or group:ID; a bare ID is a device), callflow:ID, an extension listed in \
    [extensions], or a full number (+E.164, or 7 digits or more)";

impl Target {
    /// Parses a destination; the error says what was wrong and the forms accepted.
    pub fn parse(text: &str) -> Result<Target, String> {
        let text = text.trim();
        if let Some((kind, rest)) = text.split_once(':') {
            return match kind.trim() {
                "device" => id(rest).map(Target::Device),
                "user" => id(rest).map(Target::User),
                "callflow" => id(rest).map(Target::Callflow),
                "ring_group" => endpoints(rest).map(Target::RingGroup),
                other => Err(format!("unknown destination type `{other}:`: use {FORMS}")),
            };
        }
        number(text)
    }

    /// Whether this target is a short number that still has to be looked up.
    pub fn is_extension(&self) -> bool {
        matches!(self, Target::Extension(_))
    }
}

fn id(text: &str) -> Result<String, String> {
    let text = text.trim();
    let valid = !text.is_empty()
        && text.len() <= MAX_ID
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c == ',' || c == ':');
    if valid {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a document id: write 1 to {MAX_ID} characters without spaces, \
             commas or colons"
        ))
    }
}

fn endpoints(text: &str) -> Result<Vec<(EndpointType, String)>, String> {
    text.split(',')
        .map(|member| {
            let member = member.trim();
            match member.split_once(':') {
                Some(("device", rest)) => Ok((EndpointType::Device, id(rest)?)),
                Some(("user", rest)) => Ok((EndpointType::User, id(rest)?)),
                Some(("group", rest)) => Ok((EndpointType::Group, id(rest)?)),
                Some((other, _)) => Err(format!(
                    "ring_group member type `{other}:` is unknown: use device:, user: or group:"
                )),
                None => Ok((EndpointType::Device, id(member)?)),
            }
        })
        .collect()
}

/// A number, with the separators people write (`+1 415-555 0100`, `(415) 555.0100`) removed.
fn number(text: &str) -> Result<Target, String> {
    let compact: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let (plus, digits) = match compact.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, compact.as_str()),
    };
    let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if plus {
        return if all_digits && (LONG_NUMBER_DIGITS..=MAX_E164_DIGITS).contains(&digits.len()) {
            Ok(Target::Number(compact))
        } else {
            Err(format!(
                "`{text}` is not an E.164 number: write + and {LONG_NUMBER_DIGITS} to \
                 {MAX_E164_DIGITS} digits"
            ))
        };
    }
    if all_digits && digits.len() >= LONG_NUMBER_DIGITS {
        return Ok(Target::Number(compact));
    }
    // Feature codes such as `*97` are extensions too.
    let extension = !compact.is_empty()
        && compact.len() < LONG_NUMBER_DIGITS
        && compact
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
    if extension {
        Ok(Target::Extension(compact))
    } else {
        Err(format!("`{text}` is not a destination: use {FORMS}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_targets() {
        assert_eq!(Target::parse("device:d1"), Ok(Target::Device("d1".into())));
        assert_eq!(Target::parse(" user:u1 "), Ok(Target::User("u1".into())));
        assert_eq!(
            Target::parse("callflow:cf"),
            Ok(Target::Callflow("cf".into()))
        );
        assert_eq!(
            Target::parse("ring_group:d1, user:u2,group:g3"),
            Ok(Target::RingGroup(vec![
                (EndpointType::Device, "d1".into()),
                (EndpointType::User, "u2".into()),
                (EndpointType::Group, "g3".into()),
            ]))
        );
    }

    #[test]
    fn numbers_long_and_short() {
        assert_eq!(
            Target::parse("+1 415-555 0100"),
            Ok(Target::Number("+14155550100".into()))
        );
        assert_eq!(
            Target::parse("5550100"),
            Ok(Target::Number("5550100".into()))
        );
        assert_eq!(
            Target::parse("555010"),
            Ok(Target::Extension("555010".into()))
        );
        assert_eq!(Target::parse("1002"), Ok(Target::Extension("1002".into())));
        assert_eq!(Target::parse("*97"), Ok(Target::Extension("*97".into())));
    }

    #[test]
    fn bad_destinations_say_what_to_write() {
        for (text, expected) in [
            ("fax:1", "unknown destination type `fax:`"),
            ("user:", "is not a document id"),
            ("user:a b", "is not a document id"),
            ("ring_group:d1,", "is not a document id"),
            ("ring_group:phone:1", "member type `phone:`"),
            ("+123", "is not an E.164 number"),
            ("+1234567890123456", "is not an E.164 number"),
            ("sales", "is not a destination"),
            ("", "is not a destination"),
        ] {
            let err = Target::parse(text).err().unwrap_or_default();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
