//! Keeps `src/` free of import cycles between its top-level modules (`auth`, `config`, `store`,
//! …): two modules that use each other can only be read, tested and changed together. The check
//! reads every `crate::…` path in the code of each module's files (`use` lines and paths written
//! inline, comments and string literals left out), builds the graph between top-level modules
//! and fails naming each cycle and the files behind its edges. Cross-module paths in this crate
//! are written `crate::…`; a `super::` chain climbing to the crate root would not be seen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// For each module, the modules it uses and, for each of them, the files that do.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// The source with comments removed and string and char literals blanked, so that only code
/// is searched for paths.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while let Some(c) = at(i) {
        match (c, at(i + 1)) {
            ('/', Some('/')) => {
                while at(i).is_some_and(|c| c != '\n') {
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                let mut depth = 0;
                while let Some(c) = at(i) {
                    match (c, at(i + 1)) {
                        ('/', Some('*')) => (depth, i) = (depth + 1, i + 2),
                        ('*', Some('/')) => (depth, i) = (depth - 1, i + 2),
                        _ => i += 1,
                    }
                    if depth == 0 {
                        break;
                    }
                }
                out.push(' ');
            }
            ('r', Some('"' | '#')) if !ident(i.checked_sub(1).and_then(at)) => {
                let hashes = (i + 1..).take_while(|&j| at(j) == Some('#')).count();
                if at(i + 1 + hashes) != Some('"') {
                    // `r#ident`, a raw identifier.
                    out.push(c);
                    i += 1;
                    continue;
                }
                i += hashes + 2;
                while at(i).is_some()
                    && !(at(i) == Some('"') && (1..=hashes).all(|k| at(i + k) == Some('#')))
                {
                    i += 1;
                }
                i += hashes + 1;
                out.push(' ');
            }
            ('"', _) => {
                i += 1;
                while let Some(c) = at(i) {
                    i += if c == '\\' { 2 } else { 1 };
                    if c == '"' {
                        break;
                    }
                }
                out.push(' ');
            }
            ('\'', Some('\\')) => {
                // The quote, the backslash and the escaped character, then up to the closing
                // quote (`'\u{…}'` is longer).
                i += 3;
                while at(i).is_some_and(|c| c != '\'') {
                    i += 1;
                }
                i += 1;
                out.push(' ');
            }
            ('\'', Some(_)) if at(i + 2) == Some('\'') => {
                i += 3;
                out.push(' ');
            }
            _ => {
                // A lifetime's `'` falls here too: it is kept and read as code.
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The top-level modules named after `crate::` in `code`, including each name of a
/// `crate::{a, b::c}` group.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = code;
    while let Some(found) = rest.find("crate::") {
        let before = rest[..found].chars().next_back();
        let after = rest[found + "crate::".len()..].trim_start();
        rest = &rest[found + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            let (mut depth, mut item_start) = (0, true);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        item_start = false;
                        names.insert(leading_ident(&group[i..]));
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(leading_ident(after));
        }
    }
    names.remove("");
    names
}

/// The identifier `text` starts with (empty when none).
fn leading_ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level module a file under `src/` belongs to: `auth/config.rs` and `auth/mod.rs`
/// to `auth`, `limits.rs` to `limits`; `None` for the crate root (`lib.rs`, `main.rs`).
fn top_module(rel: &str) -> Option<String> {
    let first = rel.split('/').next()?;
    match (first.strip_suffix(".rs"), rel.contains('/')) {
        (Some("lib" | "main"), false) => None,
        (Some(name), false) => Some(name.to_owned()),
        _ => Some(first.to_owned()),
    }
}

/// The graph of `files` (path under `src/`, text).
fn graph(files: &[(String, String)]) -> Graph {
    let mut graph = Graph::new();
    for (rel, text) in files {
        let Some(from) = top_module(rel) else {
            continue;
        };
        let uses = graph.entry(from.clone()).or_default();
        for to in crate_paths(&code_only(text)) {
            if to != from && to != "self" && to != "super" {
                uses.entry(to).or_default().insert(rel.clone());
            }
        }
    }
    graph
}

/// Every cycle of `graph` once `allowed` edges are taken out, each as its modules in order
/// (`a -> b -> a`) followed by the files behind each edge.
fn cycles(graph: &Graph, allowed: &[(&str, &str)]) -> Vec<String> {
    let edge = |a: &str, b: &str| {
        !allowed.contains(&(a, b)) && graph.get(a).is_some_and(|to| to.contains_key(b))
    };
    let nodes: BTreeSet<&str> = graph
        .iter()
        .flat_map(|(a, to)| std::iter::once(a.as_str()).chain(to.keys().map(String::as_str)))
        .collect();
    let mut reported = BTreeSet::new();
    let mut found = Vec::new();
    for &start in &nodes {
        if reported.contains(start) {
            continue;
        }
        // The strongly connected part of `start`: what it reaches that reaches it back.
        let part: BTreeSet<&str> = reach(&nodes, &edge, start)
            .into_iter()
            .filter(|&n| reach(&nodes, &edge, n).contains(start))
            .collect();
        if part.len() < 2 {
            continue;
        }
        reported.extend(part.iter().copied());
        // The shortest way round from `start`, within the part (breadth first).
        let mut back: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut last = start;
        'search: while let Some(n) = queue.pop_front() {
            for &m in &part {
                if !edge(n, m) {
                    continue;
                }
                if m == start {
                    last = n;
                    break 'search;
                }
                if !back.contains_key(m) {
                    back.insert(m, n);
                    queue.push_back(m);
                }
            }
        }
        // `last` leads back to `start`; follow the predecessors from it to `start`.
        let mut path = vec![start, last];
        while let Some(&prev) = back.get(path[path.len() - 1]) {
            path.push(prev);
        }
        path.reverse();
        let mut text = path.join(" -> ");
        for pair in path.windows(2) {
            let files: Vec<&str> = graph[pair[0]][pair[1]].iter().map(String::as_str).collect();
            text.push_str(&format!(
                "\n    {} -> {}: {}",
                pair[0],
                pair[1],
                files.join(", ")
            ));
        }
        text.push_str(&format!(
            "\n    (every module caught in it: {})",
            join(&part)
        ));
        found.push(text);
    }
    found
}

/// The modules `from` reaches along `edge`, itself included.
fn reach<'g>(
    nodes: &BTreeSet<&'g str>,
    edge: &dyn Fn(&str, &str) -> bool,
    from: &'g str,
) -> BTreeSet<&'g str> {
    let mut seen = BTreeSet::from([from]);
    let mut todo = vec![from];
    while let Some(n) = todo.pop() {
        for &m in nodes {
            if edge(n, m) && seen.insert(m) {
                todo.push(m);
            }
        }
    }
    seen
}

/// The names, comma-separated.
fn join(names: &BTreeSet<&str>) -> String {
    names.iter().copied().collect::<Vec<_>>().join(", ")
}

/// Every `.rs` file under `dir`, as (path relative to `root`, text).
fn read_sources(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_sources(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap().to_string_lossy();
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((rel.replace('\\', "/"), text));
        }
    }
}

#[test]
fn no_cycles_between_top_level_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_sources(&root, &root, &mut files);
    let graph = graph(&files);
    assert!(
        graph.contains_key("config") && graph.contains_key("server"),
        "{graph:?}"
    );
    let found = cycles(&graph, &[]);
    assert!(
        found.is_empty(),
        "src/ has import cycles between top-level modules; a module must not use one that uses \
         it back: move what both need into a leaf module (as config_error, secret and \
         load_error are), or pass it in:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn a_cycle_is_found_named_and_its_files_listed() {
    let files = [
        ("lib.rs", "pub mod a; use crate::a::X;"),
        (
            "a.rs",
            "use crate::{b::{self, Y}, c};\nfn f() -> crate::a::Z {}",
        ),
        ("b/mod.rs", "mod inner;"),
        (
            "b/inner.rs",
            "fn g() { crate::a::f() }\n// crate::d in a comment\n",
        ),
        (
            "c.rs",
            "const S: &str = \"crate::a\"; const R: &str = r#\"crate::a\"#;",
        ),
        (
            "d.rs",
            "fn h<'a>(x: &'a str) { let _ = ['\\'', '\"']; crate::c::k(x) }",
        ),
    ];
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    let graph = graph(&files);
    let uses = |m: &str| graph[m].keys().cloned().collect::<Vec<_>>();
    assert_eq!(uses("a"), ["b", "c"]);
    assert_eq!(uses("b"), ["a"]);
    assert!(uses("c").is_empty(), "string literals are not code");
    assert_eq!(uses("d"), ["c"], "a lifetime and a char are not strings");
    assert!(!graph.contains_key("lib"));
    let found = cycles(&graph, &[]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("a -> b -> a\n"), "{}", found[0]);
    assert!(found[0].contains("b -> a: b/inner.rs"), "{}", found[0]);
    assert!(cycles(&graph, &[("b", "a")]).is_empty());
}

#[test]
fn the_longest_way_round_is_named_in_full() {
    let files = [
        ("a.rs", "use crate::b::X;"),
        ("b.rs", "use crate::c::X;"),
        ("c.rs", "use crate::a::X;"),
    ];
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    let found = cycles(&graph(&files), &[]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("a -> b -> c -> a\n"), "{}", found[0]);
}
