//! What a flow's name may be. A leaf that the flows, the pivot links and the routes all read,
//! so that none of them reaches into another for it.

/// True for names a URL may ask for: `/`-separated segments of letters, digits, `_` and `-`.
pub fn valid_flow_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::valid_flow_name;

    #[test]
    fn flow_names() {
        for ok in ["main", "sales/main_tod", "a-b/c_d/e1"] {
            assert!(valid_flow_name(ok), "{ok}");
        }
        for bad in ["", "../x", "a//b", "/a", "a/", "a.b", "a b", "a%2F"] {
            assert!(!valid_flow_name(bad), "{bad}");
        }
    }
}
