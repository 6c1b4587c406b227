//! Prompts: what `ctx.play(file)`, `ctx.tts(text)` and the prompt of `ctx.ivr` become, and
//! [`Chain`], which strings nodes one after another on their `_` branches.
//!
//! A prompt argument is, in this order: an `http(s)://` URL or a 32-hex media id (played as
//! is); a name in the flow's `[media]` table (played as its value); text with whitespace and no
//! audio extension (spoken with `tts`); else a file name appended to `media_base_url`.

use std::collections::btree_map::Entry;
use std::fmt;

use crate::callflow::{Node, Play, Tts, DEFAULT_CHILD};

use super::tables::CallTables;

/// Longest text of one `tts` node (Kazoo's schema); longer text is spoken by several.
pub const MAX_TTS_TEXT: usize = 1000;

/// File extensions that make a prompt with spaces a file name rather than text to speak.
const AUDIO_EXTENSIONS: &[&str] = &["wav", "mp3", "ogg", "opus", "m4a", "aac", "flac", "gsm"];

/// A prompt that cannot be played.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptError {
    /// The prompt is empty.
    Empty,
    /// A file name with no `[media]` entry and no `media_base_url` to append it to.
    NoMedia {
        /// The prompt as given.
        name: String,
        /// The flow's settings file, e.g. `ivr.settings.toml`.
        settings: String,
    },
}

impl fmt::Display for PromptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromptError::Empty => {
                f.write_str("the prompt is empty: pass a file name, a URL or text")
            }
            PromptError::NoMedia { name, settings } => write!(
                f,
                "prompt {name:?} is not in [media] of {settings} and media_base_url is not set: \
                 add `{name:?} = \"https://…\"` under [media], or set media_base_url = \
                 \"https://…\" so file names are fetched from there"
            ),
        }
    }
}

impl std::error::Error for PromptError {}

/// The nodes that play `arg` to the caller, for the flow named `flow` with tables `tables`.
pub fn prompt(arg: &str, tables: &CallTables, flow: &str) -> Result<Chain, PromptError> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Err(PromptError::Empty);
    }
    if is_url(arg) || is_media_id(arg) {
        return Ok(Chain::of(Node::new(Play::new(arg))));
    }
    if let Some(media) = tables.media.get(arg) {
        return Ok(Chain::of(Node::new(Play::new(media.as_str()))));
    }
    if arg.chars().any(char::is_whitespace) && !has_audio_extension(arg) {
        return tts(arg);
    }
    match &tables.media_base_url {
        Some(base) => Ok(Chain::of(Node::new(Play::new(join_url(base, arg))))),
        None => Err(PromptError::NoMedia {
            name: arg.to_owned(),
            settings: format!("{flow}.settings.toml"),
        }),
    }
}

/// `tts` nodes speaking `text`, split at whitespace into pieces Kazoo accepts.
pub fn tts(text: &str) -> Result<Chain, PromptError> {
    let mut chain = Chain::new();
    for piece in split_text(text.trim(), MAX_TTS_TEXT) {
        chain.push(Node::new(Tts::new(piece)));
    }
    if chain.is_empty() {
        return Err(PromptError::Empty);
    }
    Ok(chain)
}

/// True for an `http://` or `https://` URL (any case).
pub fn is_url(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// True for a Kazoo media document id: 32 hexadecimal digits.
pub fn is_media_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn has_audio_extension(text: &str) -> bool {
    text.rsplit_once('.').is_some_and(|(_, ext)| {
        AUDIO_EXTENSIONS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(ext))
    })
}

/// `base` + `/` + `file`, with the file's path segments percent-encoded.
fn join_url(base: &str, file: &str) -> String {
    let mut url = base.trim_end_matches('/').to_owned();
    for segment in file.trim_start_matches('/').split('/') {
        url.push('/');
        for byte in segment.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                url.push(char::from(byte));
            } else {
                url.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    url
}

/// Pieces of at most `max` characters, cut at whitespace when there is some.
fn split_text(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if rest.chars().count() <= max {
            pieces.push(rest.to_owned());
            break;
        }
        let hard = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let cut = rest[..hard]
            .rfind(char::is_whitespace)
            .filter(|&i| i > 0)
            .unwrap_or(hard);
        pieces.push(rest[..cut].trim_end().to_owned());
        rest = rest[cut..].trim_start();
    }
    pieces
}

/// Nodes played one after another: each appended node goes on the `_` branch of the deepest
/// node reached by following `_` from the first.
///
/// End a chain with what the step awaits (a bridge, or `collect_dtmf` and its pivot) through
/// [`Chain::finish`]: a node pushed after a node that has a `_` branch would land under it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chain {
    root: Option<Node>,
}

impl Chain {
    /// An empty chain.
    pub fn new() -> Chain {
        Chain::default()
    }

    /// A chain of one node.
    pub fn of(node: Node) -> Chain {
        Chain { root: Some(node) }
    }

    /// The first node, if any.
    pub fn root(&self) -> Option<&Node> {
        self.root.as_ref()
    }

    /// True when no node was added.
    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// Appends `node` at the deepest `_`.
    pub fn push(&mut self, node: Node) {
        match &mut self.root {
            Some(root) => push_deepest(root, node),
            None => self.root = Some(node),
        }
    }

    /// Appends every node of `other`, in order.
    pub fn append(&mut self, other: Chain) {
        if let Some(root) = other.root {
            self.push(root);
        }
    }

    /// Builder form of [`Chain::push`].
    #[must_use]
    pub fn then(mut self, node: Node) -> Chain {
        self.push(node);
        self
    }

    /// The tree, or `None` when empty.
    pub fn into_node(self) -> Option<Node> {
        self.root
    }

    /// The tree ending with `last`.
    pub fn finish(self, last: Node) -> Node {
        match self.root {
            Some(mut root) => {
                push_deepest(&mut root, last);
                root
            }
            None => last,
        }
    }
}

fn push_deepest(at: &mut Node, node: Node) {
    match at.children.entry(DEFAULT_CHILD.to_owned()) {
        Entry::Occupied(next) => push_deepest(next.into_mut(), node),
        Entry::Vacant(slot) => {
            slot.insert(node);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::callflow::{CollectDtmf, Hangup, Pivot};
    use crate::ctx_map::test_support::assert_valid;

    const HEX: &str = "0123456789abcdef0123456789ABCDEF";

    fn tables() -> CallTables {
        CallTables {
            media: BTreeMap::from([
                (
                    "user/welcome.wav".into(),
                    "https://cdn.example.com/w.wav".into(),
                ),
                ("menu".into(), HEX.into()),
            ]),
            media_base_url: Some("https://media.example.com/p/".into()),
            ..CallTables::default()
        }
    }

    fn played(arg: &str, tables: &CallTables) -> serde_json::Value {
        let chain = prompt(arg, tables, "ivr").unwrap_or_else(|e| panic!("{arg}: {e}"));
        let node = chain.into_node().unwrap_or_else(|| panic!("{arg}: empty"));
        assert_valid(&node);
        node.to_value()
    }

    #[test]
    fn urls_and_media_ids_play_as_is() {
        for arg in ["https://x.example/a.mp3", "HTTP://x.example/a", HEX] {
            assert_eq!(
                played(arg, &tables()),
                json!({"module": "play", "data": {"id": arg}})
            );
        }
    }

    #[test]
    fn names_map_through_media_then_base_url() {
        let tables = tables();
        assert_eq!(
            played("user/welcome.wav", &tables)["data"]["id"],
            "https://cdn.example.com/w.wav"
        );
        assert_eq!(played("menu", &tables)["data"]["id"], HEX);
        assert_eq!(
            played("user/good bye.wav", &tables)["data"]["id"],
            "https://media.example.com/p/user/good%20bye.wav"
        );
        assert_eq!(
            played("/welcome", &tables)["data"]["id"],
            "https://media.example.com/p/welcome"
        );
    }

    #[test]
    fn a_name_with_nowhere_to_go_names_the_settings() {
        let err = prompt("user/welcome.wav", &CallTables::default(), "ivr").err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains("not in [media] of ivr.settings.toml"),
            "{text}"
        );
        assert!(text.contains("media_base_url"), "{text}");
        assert_eq!(
            prompt("  ", &tables(), "ivr").err(),
            Some(PromptError::Empty)
        );
    }

    #[test]
    fn text_with_spaces_is_spoken() {
        let tables = tables();
        assert_eq!(
            played("Thanks for calling acme.com", &tables),
            json!({"module": "tts", "data": {"text": "Thanks for calling acme.com"}})
        );
        // Spaces but an audio extension: still a file.
        assert_eq!(played("my prompt.mp3", &tables)["module"], "play");
        // One word: a file name, not text.
        assert_eq!(played("welcome", &tables)["module"], "play");
    }

    #[test]
    fn long_text_is_split_into_valid_tts_nodes() {
        let text = "word ".repeat(450);
        let node = tts(&text)
            .ok()
            .and_then(Chain::into_node)
            .unwrap_or_else(|| panic!("no node"));
        assert_valid(&node);
        let mut spoken = Vec::new();
        let mut at = Some(&node);
        while let Some(n) = at {
            let value = n.to_value();
            let piece = value["data"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(!piece.is_empty() && piece.chars().count() <= MAX_TTS_TEXT);
            spoken.push(piece);
            at = n.children.get(DEFAULT_CHILD);
        }
        assert!(spoken.len() >= 3, "{}", spoken.len());
        assert_eq!(spoken.join(" "), text.trim());
        let unbroken = "x".repeat(2500);
        let pieces = split_text(&unbroken, MAX_TTS_TEXT);
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces.concat(), unbroken);
        assert_eq!(tts(" ").err(), Some(PromptError::Empty));
    }

    #[test]
    fn chain_appends_at_the_deepest_default_branch() {
        let collect = Node::new(CollectDtmf::new("step_1", 1)).child("1", Node::new(Hangup::new()));
        let mut chain = Chain::new();
        assert!(chain.is_empty());
        chain.push(Node::new(Tts::new("one")));
        chain.append(Chain::of(Node::new(Tts::new("two"))).then(collect));
        let tree = chain.finish(Node::new(Pivot::new(
            "https://pf.example.com/pivot/ivr?step=2",
        )));
        assert_valid(&tree);
        let value = tree.to_value();
        assert_eq!(value["data"]["text"], "one");
        let two = &value["children"]["_"];
        assert_eq!(two["data"]["text"], "two");
        let collect = &two["children"]["_"];
        assert_eq!(collect["module"], "collect_dtmf");
        assert_eq!(collect["children"]["1"]["module"], "hangup");
        assert_eq!(collect["children"]["_"]["module"], "pivot");
        assert_eq!(
            Chain::new().finish(Node::new(Hangup::new())),
            Node::new(Hangup::new())
        );
    }
}
