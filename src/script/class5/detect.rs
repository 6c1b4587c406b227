//! Tells a Class 5 flow from a plain script flow: its `main` declares a second parameter
//! (`ctx`). Read from the source's parameter list, since `main.length` counts only the
//! parameters before the first default (`main(data = {}, ctx)` has length 0).

use std::sync::OnceLock;

use regex::Regex;

/// Where a `main` parameter list can open: `function main(`, `main = async (`,
/// `main = function (`, a method `main(` (`module.exports = { async main(…) { … } }`) and an
/// unnamed `export default async function (`.
fn openers() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?m)(?:\bfunction\s*\*?\s*main\s*\(|\bmain\s*[:=]\s*(?:async\s+)?(?:function\s*\*?\s*\w*\s*)?\(|(?:^|[\s{,;])(?:async\s+)?main\s*\(|\bexport\s+default\s+(?:async\s+)?function\s*\()",
        )
        .unwrap_or_else(|_| unreachable!("the pattern is a valid regex"))
    })
}

/// True when the script's `main` takes a second parameter. Only a declaration counts: its list
/// is followed by a body (`{`) or an arrow (`=>`), so a call `main(data, x)` is not one.
pub fn declares_ctx(source: &str) -> bool {
    openers()
        .find_iter(source)
        .filter_map(|m| parameters(&source[m.end()..]))
        .any(|(count, after)| {
            let after = after.trim_start();
            count >= 2 && (after.starts_with('{') || after.starts_with("=>"))
        })
}

/// Counts the parameters of a list that starts right after its `(`, with the text after its
/// `)`; `None` when it never closes.
fn parameters(rest: &str) -> Option<(usize, &str)> {
    let (mut depth, mut count, mut seen) = (0usize, 0usize, false);
    let mut quote: Option<char> = None;
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        if let Some(q) = quote {
            if c == '\\' {
                chars.next();
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' | '`' => {
                quote = Some(c);
                seen = true;
            }
            '(' | '[' | '{' => {
                depth += 1;
                seen = true;
            }
            ')' | ']' | '}' if depth > 0 => depth -= 1,
            ')' => return Some((count + usize::from(seen), &rest[i + 1..])),
            ',' if depth == 0 => {
                if seen {
                    count += 1;
                }
                seen = false;
            }
            c if c.is_whitespace() => {}
            _ => seen = true,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_parameter_makes_a_class5_flow() {
        assert!(declares_ctx(
            "async function main(data, ctx) { await ctx.answer() }"
        ));
        assert!(declares_ctx(
            "export async function main(data = {}, ctx) {}"
        ));
        assert!(declares_ctx("function main({ a, b } = {}, ctx) {}"));
        assert!(declares_ctx("const main = async (data, ctx) => {};"));
        assert!(declares_ctx("module.exports = { async main(d, c) {} };"));
        assert!(declares_ctx("export default async function (data, ctx) {}"));
        assert!(!declares_ctx("function main(data) { return data }"));
        assert!(!declares_ctx("async function main(data = f(1, 2)) {}"));
        assert!(!declares_ctx("function main() { other(a, b) }"));
        assert!(!declares_ctx("function main(data,) {}"));
        assert!(!declares_ctx(
            "function helper(a, b) {} function main(d) {}"
        ));
        assert!(!declares_ctx(
            "function run(d) { return main(d, 1); }\nfunction main(d) {}"
        ));
        assert!(declares_ctx(
            "exports.main = async (data, ctx) => { await ctx.answer() };"
        ));
    }
}
