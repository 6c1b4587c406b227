//! `GET /ui`: the web console — calls, flows with a playground, recordings. Four static files
//! compiled into the binary (no build step, nothing loaded from other hosts); the page reads the
//! service's own JSON endpoints with same-origin relative URLs.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::error::ApiError;

/// One embedded file of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// `Content-Type` sent with it.
    pub content_type: &'static str,
    /// The file.
    pub body: &'static str,
}

const INDEX: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_str!("ui/index.html"),
};
const SCRIPT: Asset = Asset {
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("ui/app.js"),
};
const CALL_SCRIPT: Asset = Asset {
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("ui/call.js"),
};
const STYLE: Asset = Asset {
    content_type: "text/css; charset=utf-8",
    body: include_str!("ui/style.css"),
};

/// The page may load and call only this service; nothing inline, no frames of it elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; media-src 'self'; img-src 'self' data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What a path under `/ui` is: `tail` is the path after `/ui` (`""`, `"/"`, `"/app.js"`, …).
#[derive(Debug, PartialEq, Eq)]
pub enum UiPath {
    /// A file to send.
    File(Asset),
    /// `/ui` itself: redirected to `/ui/`, so the page's relative URLs resolve under `/ui/`
    /// whatever prefix a proxy puts in front.
    Redirect,
    /// Not a file of the console.
    Missing,
}

/// Resolves a path under `/ui`.
pub fn resolve(tail: &str) -> UiPath {
    match tail {
        "" => UiPath::Redirect,
        "/" | "/index.html" => UiPath::File(INDEX),
        "/app.js" => UiPath::File(SCRIPT),
        "/call.js" => UiPath::File(CALL_SCRIPT),
        "/style.css" => UiPath::File(STYLE),
        _ => UiPath::Missing,
    }
}

/// The handler for every path under `/ui`.
pub async fn serve(req: HttpRequest) -> HttpResponse {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return ApiError::MethodNotAllowed(format!(
            "{} is not allowed on {}: the console is read with GET",
            req.method(),
            req.path()
        ))
        .error_response();
    }
    let tail = req.path().strip_prefix("/ui").unwrap_or("");
    match resolve(tail) {
        UiPath::File(asset) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ))
            .body(asset.body),
        // Relative, so it also holds behind a proxy that serves the service under a prefix.
        UiPath::Redirect => HttpResponse::PermanentRedirect()
            .insert_header((header::LOCATION, "ui/"))
            .finish(),
        UiPath::Missing => ApiError::NotFound(format!("no console file {}: open /ui/", req.path()))
            .error_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(resolve(""), UiPath::Redirect);
        assert_eq!(resolve("/"), UiPath::File(INDEX));
        assert_eq!(resolve("/app.js"), UiPath::File(SCRIPT));
        assert_eq!(resolve("/style.css"), UiPath::File(STYLE));
        assert_eq!(resolve("/call.js"), UiPath::File(CALL_SCRIPT));
        for missing in ["/x", "/app.js/", "//app.js", "/../Cargo.toml", "/ui/app.js"] {
            assert_eq!(resolve(missing), UiPath::Missing, "{missing}");
        }
    }

    #[test]
    fn page_loads_only_its_own_files() {
        // Nothing from another host: the console must work on a closed network.
        for asset in [INDEX, SCRIPT, CALL_SCRIPT, STYLE] {
            assert!(!asset.body.contains("http://"), "{}", asset.content_type);
            assert!(!asset.body.contains("https://"), "{}", asset.content_type);
        }
        assert!(INDEX.body.contains("src=\"app.js\""));
        assert!(INDEX.body.contains("src=\"call.js\""));
        assert!(INDEX.body.contains("href=\"style.css\""));
    }
}
