//! The two audio formats Kazoo uploads (mp3, wav): file extensions, content types, and the header
//! check that says whether the bytes look like what the extension claims.
//!
//! The check never refuses an upload: a PBX whose upload is refused retries it and then drops the
//! recording, so a file with a surprising header is kept and flagged (`format_ok: false`).

use crate::callflow::RecordingFormat;

/// How many leading bytes the header check looks at: enough for a WAV `fmt ` chunk behind a
/// `LIST` chunk, or an MP3 frame behind a small ID3 tag.
pub const HEAD_BYTES: usize = 4096;

/// The format an extension names (`mp3`, `wav`, any case).
pub fn from_extension(ext: &str) -> Option<RecordingFormat> {
    if ext.eq_ignore_ascii_case("mp3") {
        Some(RecordingFormat::Mp3)
    } else if ext.eq_ignore_ascii_case("wav") {
        Some(RecordingFormat::Wav)
    } else {
        None
    }
}

/// The file extension of a format, without the dot.
pub fn extension(format: RecordingFormat) -> &'static str {
    match format {
        RecordingFormat::Mp3 => "mp3",
        RecordingFormat::Wav => "wav",
    }
}

/// The content type a recording is served with.
pub fn content_type(format: RecordingFormat) -> &'static str {
    match format {
        RecordingFormat::Mp3 => "audio/mpeg",
        RecordingFormat::Wav => "audio/wav",
    }
}

/// Whether an upload's `Content-Type` fits a file of `format`. Kazoo sends `audio/mpeg` or
/// `audio/x-wav`; the common aliases, `application/octet-stream` and no header at all are
/// accepted too, since the extension already says what the file is.
pub fn accepts(format: RecordingFormat, content_type: Option<&str>) -> bool {
    let Some(value) = content_type else {
        return true;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let is = |names: &[&str]| names.iter().any(|n| essence.eq_ignore_ascii_case(n));
    if is(&["application/octet-stream", ""]) {
        return true;
    }
    match format {
        RecordingFormat::Mp3 => is(&[
            "audio/mpeg",
            "audio/mp3",
            "audio/mpeg3",
            "audio/x-mpeg",
            "audio/x-mp3",
        ]),
        RecordingFormat::Wav => is(&["audio/x-wav", "audio/wav", "audio/wave", "audio/vnd.wave"]),
    }
}

/// What the header check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCheck {
    /// The bytes start as a file of the declared format does.
    pub ok: bool,
    /// Length in milliseconds, when the header tells it (WAV byte rate, constant-bitrate MP3).
    pub duration_ms: Option<u64>,
}

/// Checks the first bytes of a file (up to [`HEAD_BYTES`]) of `size` bytes in all.
pub fn check(format: RecordingFormat, head: &[u8], size: u64) -> HeaderCheck {
    match format {
        RecordingFormat::Wav => check_wav(head, size),
        RecordingFormat::Mp3 => check_mp3(head, size),
    }
}

fn u32_le(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// `RIFF….WAVE` (or `RF64`, for files over 4 GiB); duration from the `fmt ` chunk's byte rate.
fn check_wav(head: &[u8], size: u64) -> HeaderCheck {
    let riff = head.starts_with(b"RIFF") || head.starts_with(b"RF64");
    if !riff || head.get(8..12) != Some(b"WAVE") {
        return HeaderCheck {
            ok: false,
            duration_ms: None,
        };
    }
    // Walk the chunks to `fmt ` (usually first, sometimes behind `LIST` or `JUNK`) and `data`.
    let mut at = 12;
    let mut byte_rate = None;
    let mut data_start = None;
    while let (Some(id), Some(len)) = (head.get(at..at + 4), u32_le(head, at + 4)) {
        if id == b"fmt " {
            byte_rate = u32_le(head, at + 16).filter(|&r| r > 0);
        } else if id == b"data" {
            data_start = Some(at as u64 + 8);
            break;
        }
        // Chunks are padded to an even length.
        at = at.saturating_add(8 + len as usize + (len as usize & 1));
    }
    let duration_ms = match (byte_rate, data_start) {
        (Some(rate), Some(start)) => Some(size.saturating_sub(start) * 1000 / u64::from(rate)),
        _ => None,
    };
    HeaderCheck {
        ok: true,
        duration_ms,
    }
}

/// An ID3v2 tag or an MPEG audio frame header; duration from the first frame's bitrate (exact
/// for the constant-bitrate files a PBX records, an estimate otherwise).
fn check_mp3(head: &[u8], size: u64) -> HeaderCheck {
    let audio_start = if head.starts_with(b"ID3") {
        // A synch-safe size (four bytes of seven bits each) after the 10-byte tag header.
        match head.get(6..10) {
            Some(b) => {
                10 + b
                    .iter()
                    .fold(0usize, |n, &x| n << 7 | usize::from(x & 0x7f))
            }
            None => {
                return HeaderCheck {
                    ok: false,
                    duration_ms: None,
                }
            }
        }
    } else {
        0
    };
    let bitrate = head
        .get(audio_start..audio_start + 4)
        .and_then(frame_bitrate);
    HeaderCheck {
        // A whole tag header is enough: the first frame may lie beyond the bytes looked at.
        ok: audio_start > 0 || bitrate.is_some(),
        duration_ms: bitrate.map(|kbps| audio_ms(size, audio_start as u64, kbps)),
    }
}

fn audio_ms(size: u64, start: u64, kbps: u32) -> u64 {
    // kbit/s is bits per millisecond.
    size.saturating_sub(start) * 8 / u64::from(kbps)
}

/// The bitrate (kbit/s) of an MPEG layer III frame header, or `None` when these four bytes are
/// not one (no frame sync, or a reserved version, layer, bitrate or sample rate).
fn frame_bitrate(h: &[u8]) -> Option<u32> {
    const MPEG1: [u32; 15] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ];
    const MPEG2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    let (b1, b2) = (*h.get(1)?, *h.get(2)?);
    if h[0] != 0xFF || b1 & 0xE0 != 0xE0 {
        return None;
    }
    let version = (b1 >> 3) & 0b11; // 00 = 2.5, 01 reserved, 10 = 2, 11 = 1
    let layer = (b1 >> 1) & 0b11; // 01 = layer III
    let index = usize::from(b2 >> 4);
    if version == 0b01 || layer != 0b01 || index == 0 || index == 15 || (b2 >> 2) & 0b11 == 0b11 {
        return None;
    }
    Some(if version == 0b11 {
        MPEG1[index]
    } else {
        MPEG2[index]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A canonical 44-byte PCM WAV header: 8 kHz, 16-bit mono (16,000 bytes per second).
    pub fn wav_header() -> Vec<u8> {
        let mut h = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&[1, 0, 1, 0]); // PCM, mono
        h.extend_from_slice(&8000u32.to_le_bytes());
        h.extend_from_slice(&16000u32.to_le_bytes());
        h.extend_from_slice(&[2, 0, 16, 0]);
        h.extend_from_slice(b"data\0\0\0\0");
        h
    }

    #[test]
    fn extensions_and_types() {
        assert_eq!(from_extension("MP3"), Some(RecordingFormat::Mp3));
        assert_eq!(from_extension("wav"), Some(RecordingFormat::Wav));
        assert_eq!(from_extension("ogg"), None);
        assert_eq!(content_type(RecordingFormat::Wav), "audio/wav");
        assert_eq!(extension(RecordingFormat::Mp3), "mp3");
    }

    #[test]
    fn content_types_follow_the_extension() {
        use RecordingFormat::{Mp3, Wav};
        for ok in [
            None,
            Some("audio/mpeg"),
            Some("Audio/MPEG; charset=binary"),
            Some("application/octet-stream"),
        ] {
            assert!(accepts(Mp3, ok), "{ok:?}");
        }
        for ok in [Some("audio/x-wav"), Some("audio/wav"), Some("audio/wave")] {
            assert!(accepts(Wav, ok), "{ok:?}");
        }
        for bad in [
            Some("audio/x-wav"),
            Some("text/plain"),
            Some("multipart/form-data; boundary=x"),
        ] {
            assert!(!accepts(Mp3, bad), "{bad:?}");
        }
        assert!(!accepts(Wav, Some("audio/mpeg")));
    }

    #[test]
    fn wav_header_and_duration() {
        let head = wav_header();
        // 44-byte header + 2 s of 16 kB/s audio.
        let found = check(RecordingFormat::Wav, &head, 44 + 32_000);
        assert_eq!(
            found,
            HeaderCheck {
                ok: true,
                duration_ms: Some(2000)
            }
        );
        // A LIST chunk before fmt is walked over.
        let mut listed = b"RIFF\0\0\0\0WAVELIST".to_vec();
        listed.extend_from_slice(&3u32.to_le_bytes());
        listed.extend_from_slice(b"abc\0");
        listed.extend_from_slice(&head[12..]);
        let found = check(RecordingFormat::Wav, &listed, listed.len() as u64 + 16_000);
        assert_eq!(found.duration_ms, Some(1000));
        assert!(!check(RecordingFormat::Wav, b"RIFF\0\0\0\0AVI ", 100).ok);
        assert!(!check(RecordingFormat::Wav, b"", 0).ok);
        assert!(!check(RecordingFormat::Wav, &[0xFF, 0xFB, 0x90, 0x00], 100).ok);
    }

    #[test]
    fn mp3_frame_sync_and_id3() {
        // MPEG-1 layer III, 128 kbit/s, 44.1 kHz.
        let frame = [0xFF, 0xFB, 0x90, 0x64];
        let found = check(RecordingFormat::Mp3, &frame, 16_000);
        assert_eq!(
            found,
            HeaderCheck {
                ok: true,
                duration_ms: Some(1000)
            }
        );
        // MPEG-2 layer III, 16 kbit/s (a typical PBX recording).
        let low = [0xFF, 0xF3, 0x20, 0xC4];
        assert_eq!(
            check(RecordingFormat::Mp3, &low, 2000).duration_ms,
            Some(1000)
        );
        let mut tagged = b"ID3\x04\0\0\0\0\0\x02".to_vec();
        tagged.extend_from_slice(&[0, 0]);
        tagged.extend_from_slice(&frame);
        let found = check(RecordingFormat::Mp3, &tagged, 12 + 16_000);
        assert_eq!(found.duration_ms, Some(1000));
        // A tag too large for the head still passes, without a duration.
        let big = b"ID3\x04\0\0\0\x7f\x7f\x7f";
        assert_eq!(
            check(RecordingFormat::Mp3, big, 10_000_000),
            HeaderCheck {
                ok: true,
                duration_ms: None
            }
        );
        for bad in [
            &b"RIFF\0\0\0\0WAVE"[..],
            &[0xFF, 0xFB, 0xF0, 0x00],
            &[0xFF, 0xEB, 0x90, 0x00],
            &[0xFF],
            &b"ID3"[..],
            &[],
        ] {
            assert!(!check(RecordingFormat::Mp3, bad, 100).ok, "{bad:?}");
        }
    }
}
