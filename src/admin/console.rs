//! The web console: static files (HTML, ES modules, CSS) compiled into the binary and served by
//! the admin listener at `/console/` (`/` redirects there). The console is a client of the admin
//! API only; it holds no state here.
//!
//! The files carry no secret, so they are served without the admin token (the page asks for the
//! token itself when the API answers 401). Everything the page needs comes from this table: the
//! `Content-Security-Policy` (`default-src 'self'`) forbids any other origin, inline scripts and
//! inline styles (but one, below), and framing.

use std::sync::OnceLock;

use base64::Engine as _;

use super::http::{Request, Response};

/// One file of the console.
struct Asset {
    /// Its URL path.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// Every file the console is made of. `index.html` refers to the others by these paths.
const ASSETS: &[Asset] = &[
    Asset { path: "/console/", content_type: "text/html; charset=utf-8", body: include_bytes!("console/index.html") },
    Asset {
        path: "/console/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("console/style.css"),
    },
    Asset {
        path: "/console/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/app.js"),
    },
    Asset {
        path: "/console/api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/api.js"),
    },
    Asset {
        path: "/console/ui.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/ui.js"),
    },
    Asset {
        path: "/console/wizard.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/wizard.js"),
    },
    Asset {
        path: "/console/checks.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/checks.js"),
    },
    Asset {
        path: "/console/settings.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/settings.js"),
    },
    Asset {
        path: "/console/openapi-import.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/openapi-import.js"),
    },
    Asset {
        path: "/console/plans.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/plans.js"),
    },
    Asset {
        path: "/console/test-panel.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/test-panel.js"),
    },
    Asset {
        path: "/console/function-picker.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/function-picker.js"),
    },
    Asset {
        path: "/console/base64-editor.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/base64-editor.js"),
    },
    Asset {
        path: "/console/diff.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/diff.js"),
    },
    Asset {
        path: "/console/monitoring.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/monitoring.js"),
    },
    Asset {
        path: "/console/charts.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("console/charts.js"),
    },
    Asset { path: "/console/favicon.svg", content_type: "image/svg+xml", body: include_bytes!("console/favicon.svg") },
];

/// Same origin only, no inline code, no framing: the console talks to nothing but this listener.
///
/// One exception, for the generated docs view: the docs endpoint needs the token, so the console
/// fetches the page and shows it in an `<iframe sandbox srcdoc>` (no scripts, an opaque origin:
/// it can reach neither the console nor the token). A srcdoc document inherits this policy, and
/// the docs page's stylesheet is an inline `<style>`; rather than `'unsafe-inline'` (any inline
/// style, also in the console) or a `blob:` URL in a new tab (which inherits this policy too, and
/// would keep the page in a tab with the console's origin), the policy admits exactly that one
/// stylesheet by its SHA-256. Inline scripts stay forbidden everywhere, and a `srcdoc` frame
/// needs no `frame-src` source: it loads nothing.
fn content_security_policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        let docs_style = base64::engine::general_purpose::STANDARD.encode(sha256(super::docs::STYLE.as_bytes()));
        format!("default-src 'self'; style-src 'self' 'sha256-{docs_style}'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'")
    })
}

fn sha256(data: &[u8]) -> ring::digest::Digest {
    ring::digest::digest(&ring::digest::SHA256, data)
}

/// The console's answer to `request`, or `None` when it is not a console URL (then it is an
/// admin API call, authenticated as usual).
pub fn serve(request: &Request) -> Option<Response> {
    if request.method != "GET" {
        return None;
    }
    match request.path.as_str() {
        "/" | "/console" => {
            let mut response = Response::text(302, "text/plain; charset=utf-8", "the console is at /console/\n".into());
            response.headers.push(("Location", "/console/".into()));
            Some(response)
        }
        "/console/index.html" => asset("/console/"),
        path if path.starts_with("/console/") => Some(asset(path).unwrap_or_else(|| {
            Response::text(404, "text/plain; charset=utf-8", format!("the console has no file {path}\n"))
        })),
        _ => None,
    }
}

fn asset(path: &str) -> Option<Response> {
    let asset = ASSETS.iter().find(|asset| asset.path == path)?;
    let mut response =
        Response { status: 200, content_type: asset.content_type, headers: Vec::new(), body: asset.body.to_vec() };
    // Revalidate every time, so a new gateway binary's console is never mixed with an old one's.
    response.headers.push(("Cache-Control", "no-cache".into()));
    response.headers.push(("Content-Security-Policy", content_security_policy().into()));
    response.headers.push(("Referrer-Policy", "no-referrer".into()));
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Option<Response> {
        serve(&Request {
            method: "GET".into(),
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
        })
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    fn text(path: &str) -> String {
        String::from_utf8(get(path).unwrap().body).unwrap()
    }

    #[test]
    fn every_asset_is_served_with_its_type_and_policy() {
        let expected_type = |path: &str| match path.rsplit('.').next() {
            Some("css") => "text/css; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("svg") => "image/svg+xml",
            _ => "text/html; charset=utf-8",
        };
        for asset in ASSETS {
            let response = get(asset.path).unwrap_or_else(|| panic!("{} is not served", asset.path));
            assert_eq!(response.status, 200, "{}", asset.path);
            assert_eq!(response.content_type, expected_type(asset.path), "{}", asset.path);
            assert!(!response.body.is_empty(), "{}", asset.path);
            assert_eq!(header(&response, "Cache-Control"), Some("no-cache"), "{}", asset.path);
            assert!(
                header(&response, "Content-Security-Policy").unwrap().starts_with("default-src 'self'"),
                "{}",
                asset.path
            );
        }
        assert_eq!(get("/console/index.html").unwrap().body, get("/console/").unwrap().body);
    }

    #[test]
    fn root_redirects_and_unknown_files_are_404_not_api_calls() {
        let root = get("/").unwrap();
        assert_eq!(root.status, 302);
        assert_eq!(header(&root, "Location"), Some("/console/"));
        assert_eq!(get("/console/missing.js").unwrap().status, 404);
        // Admin API paths and other methods go on to the authenticated API.
        assert!(get("/v1/services").is_none());
        let post = Request {
            method: "POST".into(),
            path: "/console/".into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        assert!(serve(&post).is_none());
    }

    #[test]
    fn the_policy_admits_the_generated_docs_stylesheet_and_no_other_inline_code() {
        // The docs page as the docs endpoint renders it, shown by the console in a srcdoc frame
        // that inherits the console's policy: each of its inline stylesheets must be admitted.
        let service: crate::config::file::Service =
            serde_json::from_value(serde_json::json!({"id": "service-docs0001", "name": "docs"})).unwrap();
        let release =
            crate::admin::store::Release::new("service-docs0001", 1, "release".into(), String::new(), service.clone());
        let page = crate::admin::docs::render(&service, "release", &release);
        let styles: Vec<&str> = page
            .split("<style>")
            .skip(1)
            .map(|rest| &rest[..rest.find("</style>").expect("an unclosed <style>")])
            .collect();
        assert!(!styles.is_empty(), "the docs page has no stylesheet: drop the hash from the policy");
        let policy = content_security_policy();
        for style in styles {
            let hash = base64::engine::general_purpose::STANDARD.encode(sha256(style.as_bytes()));
            assert!(policy.contains(&format!("'sha256-{hash}'")), "{policy} does not admit the docs stylesheet");
        }
        assert!(!page.contains("<script"), "the docs page has a script; the sandboxed frame would not run it");
        assert!(
            !policy.contains("unsafe-inline") && !policy.contains("script-src") && !policy.contains("blob:"),
            "{policy}"
        );
        assert!(get("/console/")
            .map(|response| header(&response, "Content-Security-Policy").unwrap() == policy)
            .unwrap());
    }

    /// `src="..."`, `href="..."` and `from '...'` / `import('...')` targets in a file.
    fn references(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        for marker in ["src=\"", "href=\"", "from '", "import('"] {
            let close = if marker.ends_with('"') { '"' } else { '\'' };
            let mut rest = text;
            while let Some(start) = rest.find(marker) {
                rest = &rest[start + marker.len()..];
                let end = rest.find(close).unwrap_or(rest.len());
                found.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
        }
        found
    }

    #[test]
    fn the_console_fetches_nothing_from_elsewhere() {
        for asset in ASSETS.iter().filter(|asset| asset.content_type != "image/svg+xml") {
            // The SVG namespace (charts.js builds its charts with createElementNS) is a name, not a
            // URL anything fetches.
            // The test panel's curl command names the data plane for the user to copy; the page
            // never requests it (its policy would refuse).
            let body = text(asset.path).replace("http://www.w3.org/2000/svg", "").replace("`http://${address}", "");
            for scheme in ["http://", "https://", "//fonts.", "@import"] {
                assert!(!body.contains(scheme), "{} mentions {scheme}", asset.path);
            }
        }
        let index = text("/console/");
        let index_references = references(&index);
        assert!(index_references.iter().any(|reference| reference == "/console/app.js"), "{index_references:?}");
        assert!(index_references.iter().any(|reference| reference == "/console/style.css"), "{index_references:?}");
        // Every reference of the page and of each module is a file of this table.
        for asset in ASSETS {
            for reference in references(&text(asset.path)) {
                if reference.starts_with('#') || reference.is_empty() {
                    continue;
                }
                let resolved =
                    reference.strip_prefix("./").map(|name| format!("/console/{name}")).unwrap_or(reference.clone());
                assert!(
                    ASSETS.iter().any(|other| other.path == resolved),
                    "{} refers to {reference}, which the console does not serve",
                    asset.path
                );
            }
        }
        // No inline script or style: the policy would refuse them.
        assert!(
            !index.contains("<script>") && !index.contains("style=\"") && !index.contains("<style"),
            "inline code in index.html"
        );
    }
}
