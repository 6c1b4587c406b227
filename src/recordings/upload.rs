//! What an upload's URL says: the file name, hence call id and format, and the call's details
//! from the query, in every form Kazoo produces (reference §4):
//!
//! - `…/call_recording_<CALL_ID>.<ext>?from=…&to=…&call_id=…&account_id=…` (`record_call`; 4.3 adds
//!   `owner_id`, `start`, `duration_ms`, `recording_id`), also with a double dot (`..mp3`);
//! - `…?recording=call_recording_<CALL_ID>.<ext>&…` and `…?file=…` (a base URL with a query);
//! - `…/<CALL_ID>.<ext>` (`record_caller`, no query at all).
//!
//! Values are `%XX`-decoded only: Kazoo encodes spaces as `%20`, so a `+` is a plus sign (as in
//! `+14155550100`). A Call-ID may hold `@`, `:`, `%`, `/` or `.`; when it holds `/` unencoded,
//! the path has more segments, so the file name runs from the segment that starts with
//! `call_recording_` to the end. The name is only ever used encoded (see `layout`).

use crate::callflow::RecordingFormat;

use super::format;
use crate::store::CallDetails;

/// Kazoo's prefix of `record_call` file names.
const PREFIX: &str = "call_recording_";

/// Why an upload URL can't name a recording (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

/// Everything the URL of one upload says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadName {
    /// The file name without its extension (and without the extra dot of `..mp3`).
    pub stem: String,
    /// The format the extension names.
    pub format: RecordingFormat,
    /// The call's details from the query; `call_id` falls back to the file name without
    /// `call_recording_`, `account_id` to a 32-hex-digit path segment before the file name (for
    /// `record_caller`, whose uploads carry no query).
    pub details: CallDetails,
}

impl UploadName {
    /// Parses the raw (still percent-encoded) path after `/recordings` and the raw query.
    pub fn parse(raw_tail: &str, raw_query: &str) -> Result<UploadName, NameError> {
        let mut details = CallDetails::default();
        let mut file_param = None;
        for segment in raw_query.split('&').filter(|s| !s.is_empty()) {
            let (key, value) = segment.split_once('=').unwrap_or((segment, ""));
            let value = decode(value, "query parameter")?;
            match key {
                "recording" | "file" if !value.is_empty() => file_param = Some(value),
                "duration_ms" => details.duration_ms = value.trim().parse().ok(),
                // Unknown parameters (the base URL's own, e.g. `?a=b`) are not ours.
                _ => {
                    if let Some(field) = text_field(&mut details, key) {
                        *field = value;
                    }
                }
            }
        }
        let segments = raw_tail
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| decode(s, "path"))
            .collect::<Result<Vec<_>, _>>()?;
        let (prefix, file) = match file_param {
            Some(file) => (&segments[..], file),
            None => {
                let start = segments
                    .iter()
                    .position(|s| s.starts_with(PREFIX))
                    .unwrap_or(usize::from(segments.len() > 1 && is_account(&segments[0])));
                (&segments[..start], segments[start..].join("/"))
            }
        };
        if details.account_id.is_empty() {
            if let Some(account) = prefix.first().filter(|s| is_account(s)) {
                details.account_id = account.clone();
            }
        }
        split_file(&file, details)
    }
}

/// The text field a query parameter fills, if it is one of Kazoo's.
fn text_field<'d>(details: &'d mut CallDetails, key: &str) -> Option<&'d mut String> {
    Some(match key {
        "call_id" => &mut details.call_id,
        "account_id" => &mut details.account_id,
        "from" => &mut details.from,
        "to" => &mut details.to,
        "caller_id_name" => &mut details.caller_id_name,
        "caller_id_number" => &mut details.caller_id_number,
        "cdr_id" => &mut details.cdr_id,
        "interaction_id" => &mut details.interaction_id,
        "owner_id" => &mut details.owner_id,
        "recording_id" => &mut details.recording_id,
        "start" => &mut details.start,
        _ => return None,
    })
}

/// Splits the file name into stem and format, and takes the call id from it when the query
/// gave none.
fn split_file(file: &str, mut details: CallDetails) -> Result<UploadName, NameError> {
    // Names and ids become file names and database keys: NUL can't be part of either.
    let keyed = [
        file,
        &details.call_id,
        &details.account_id,
        &details.recording_id,
    ];
    if keyed.iter().any(|t| t.contains('\0')) {
        return Err(NameError(
            "the upload URL holds a NUL byte (%00), which no recording name, call id or \
             account id can contain"
                .into(),
        ));
    }
    if file.is_empty() {
        return Err(NameError(
            "the upload URL names no file: PUT the recording to /recordings/NAME.mp3 or \
             /recordings/NAME.wav (Kazoo's record_call url plus /call_recording_CALLID.EXT)"
                .into(),
        ));
    }
    let Some((stem, ext)) = file.rsplit_once('.') else {
        return Err(NameError(format!(
            "the file name `{}` has no extension: end it in .mp3 or .wav",
            shorten(file)
        )));
    };
    let Some(format) = format::from_extension(ext) else {
        return Err(NameError(format!(
            "`.{}` is not a recording format: upload .mp3 or .wav (set the record_call \
             node's `format`)",
            shorten(ext)
        )));
    };
    // `call_recording_X..mp3` (Kazoo master) is `call_recording_X.mp3`.
    let stem = stem.strip_suffix('.').unwrap_or(stem);
    if stem.is_empty() || stem == PREFIX {
        return Err(NameError(format!(
            "the file name `{}` has no name before its extension",
            shorten(file)
        )));
    }
    if details.call_id.is_empty() {
        details.call_id = stem.strip_prefix(PREFIX).unwrap_or(stem).to_owned();
    }
    Ok(UploadName {
        stem: stem.to_owned(),
        format,
        details,
    })
}

/// Whether a path segment is a Kazoo account id (32 hex digits).
fn is_account(segment: &str) -> bool {
    segment.len() == 32 && segment.bytes().all(|b| b.is_ascii_hexdigit())
}

/// At most 64 characters of `text`, for messages (it came from the request).
fn shorten(text: &str) -> String {
    let mut out: String = text.chars().take(64).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out.escape_debug().to_string()
}

/// `%XX`-decodes `raw` (and nothing else: `+` stays `+`); the result must be UTF-8.
fn decode(raw: &str, what: &str) -> Result<String, NameError> {
    if !raw.contains('%') {
        return Ok(raw.to_owned());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(byte) = hex else {
                return Err(NameError(format!(
                    "invalid percent-encoding in the {what}: `%` must be followed by two hex \
                     digits"
                )));
            };
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        NameError(format!(
            "the {what} is not valid UTF-8 once percent-decoded"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "3a1d5c7e9b2f4a6c8e0d1f3b5a7c9e2d";

    fn parse(tail: &str, query: &str) -> UploadName {
        UploadName::parse(tail, query).unwrap_or_else(|e| panic!("{tail}?{query}: {e}"))
    }

    fn refused(tail: &str, query: &str) -> String {
        match UploadName::parse(tail, query) {
            Ok(n) => panic!("{tail}?{query} was accepted: {n:?}"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn record_call_form_with_every_parameter() {
        let n = parse(
            "/call_recording_abc123%4010.0.0.1.mp3",
            &format!(
                "from=1000%40acme.example.com&to=2030%40acme.example.com&caller_id_name=Alice%20Smith\
                 &caller_id_number=+14155550100&call_id=abc123%4010.0.0.1&cdr_id=cdr1\
                 &interaction_id=63f1-9&account_id={ACCOUNT}&owner_id=own1&start=63900000000\
                 &duration_ms=61000&recording_id=rec1"
            ),
        );
        assert_eq!(n.stem, "call_recording_abc123@10.0.0.1");
        assert_eq!(n.format, RecordingFormat::Mp3);
        let n = n.details;
        assert_eq!(n.call_id, "abc123@10.0.0.1");
        assert_eq!(n.account_id, ACCOUNT);
        assert_eq!(n.from, "1000@acme.example.com");
        assert_eq!(n.caller_id_name, "Alice Smith");
        assert_eq!(n.caller_id_number, "+14155550100");
        assert_eq!(
            (
                n.cdr_id.as_str(),
                n.interaction_id.as_str(),
                n.owner_id.as_str()
            ),
            ("cdr1", "63f1-9", "own1")
        );
        assert_eq!(
            (n.recording_id.as_str(), n.start.as_str()),
            ("rec1", "63900000000")
        );
        assert_eq!(n.duration_ms, Some(61000));
    }

    #[test]
    fn double_dot_and_missing_values() {
        let n = parse(
            "/call_recording_x%3Ay..mp3",
            "from=&to=&call_id=&account_id=",
        );
        assert_eq!(
            (n.stem.as_str(), n.details.call_id.as_str()),
            ("call_recording_x:y", "x:y")
        );
        assert_eq!(n.details.account_id, "");
        assert_eq!(n.details.duration_ms, None);
    }

    #[test]
    fn query_forms() {
        let n = parse("", "a=b&recording=call_recording_c1.wav&from=1&call_id=c1");
        assert_eq!(
            (n.stem.as_str(), n.format),
            ("call_recording_c1", RecordingFormat::Wav)
        );
        let n = parse("/", "a&file=call_recording_c2.mp3&from=1");
        assert_eq!(n.details.call_id, "c2");
        // A base path before the query form is kept as a prefix, not as the name.
        let n = parse(&format!("/{ACCOUNT}"), "recording=call_recording_c3.mp3");
        assert_eq!(
            (n.details.call_id.as_str(), n.details.account_id.as_str()),
            ("c3", ACCOUNT)
        );
    }

    #[test]
    fn record_caller_form_and_slashes_in_call_ids() {
        let n = parse("/abc%2Fdef%40host.wav", "");
        assert_eq!(
            (n.stem.as_str(), n.details.call_id.as_str()),
            ("abc/def@host", "abc/def@host")
        );
        // An unencoded slash splits the name over segments: they are joined back.
        let n = parse("/abc/def@host.wav", "");
        assert_eq!(n.details.call_id, "abc/def@host");
        // A leading account segment is the account, for record_caller URLs.
        let n = parse(&format!("/{ACCOUNT}/abc.mp3"), "");
        assert_eq!(
            (n.details.account_id.as_str(), n.stem.as_str()),
            (ACCOUNT, "abc")
        );
        // Segments before call_recording_ are the base URL's.
        let n = parse("/tenant/call_recording_a/b.c.mp3", "call_id=a/b.c");
        assert_eq!(
            (n.stem.as_str(), n.details.call_id.as_str()),
            ("call_recording_a/b.c", "a/b.c")
        );
        let n = parse("/..%2F..%2Fetc%2Fpasswd.mp3", "");
        assert_eq!(n.stem, "../../etc/passwd");
    }

    #[test]
    fn what_cannot_be_a_recording_is_refused_with_the_fix() {
        assert!(refused("/x%00y.mp3", "").contains("NUL"));
        assert!(refused("/x.mp3", "call_id=a%00").contains("NUL"));
        assert!(refused("/noext", "").contains("no extension"));
        assert!(refused("/x.ogg", "").contains(".mp3 or .wav"));
        assert!(refused("", "").contains("names no file"));
        assert!(refused("/", "a=b").contains("names no file"));
        assert!(refused("/.mp3", "").contains("no name"));
        assert!(refused("/call_recording_.mp3", "").contains("no name"));
        assert!(refused("/x%zz.mp3", "").contains("percent-encoding"));
        assert!(refused("/x%+1.mp3", "").contains("percent-encoding"));
        assert!(refused("/x.mp3", "from=%4").contains("percent-encoding"));
        assert!(refused("/x%ff.mp3", "").contains("UTF-8"));
        assert!(refused("/x%C3.mp3", "").contains("UTF-8"));
    }
}
