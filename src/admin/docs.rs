//! Generated API documentation: one self-contained HTML page per service and stage (inline CSS,
//! nothing fetched), from the release the stage serves. It is what an API's caller needs: each
//! API's method, path, parameters, authentication, and the response samples and error codes of
//! the console's step 4. Backend details (functions, timeouts) are not shown. Every value from the
//! state is HTML-escaped.

use std::fmt::Write;

use super::store::Release;
use crate::config::file;

/// The page for `service` (a release's snapshot) served on `stage`.
pub fn render(service: &file::Service, stage: &str, release: &Release) -> String {
    let name = service.name.as_deref().unwrap_or_default();
    let id = service.id.as_deref().unwrap_or_default();
    let mut page = String::with_capacity(8 * 1024);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{} ({}) - API documentation</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(name),
        escape(stage)
    );
    let _ = write!(page, "<header><h1>{}</h1><p class=\"meta\">Service <code>{}</code> &middot; stage <code>{}</code> &middot; release {} published {}", escape(name), escape(id), escape(stage), release.id, date(release.created_at));
    if !release.description.is_empty() {
        let _ = write!(page, " &middot; {}", escape(&release.description));
    }
    page.push_str("</p>");
    if let Some(description) = &service.description {
        let _ = write!(page, "<p>{}</p>", escape(description));
    }
    let hosts = service.hosts.clone().unwrap_or_default();
    let base = if hosts.is_empty() {
        format!("http://&lt;gateway&gt;/{}", escape(stage))
    } else {
        hosts.iter().map(|host| format!("http://{}/{}", escape(host), escape(stage))).collect::<Vec<_>>().join(", ")
    };
    let _ = write!(
        page,
        "<p>Base URL: <code>{base}</code> (an API's path follows it)</p></header>\n<nav><h2>APIs</h2><ul>"
    );
    for (index, api) in service.apis.iter().enumerate() {
        let _ = write!(
            page,
            "<li><a href=\"#api-{index}\"><span class=\"method\">{}</span> {}</a> {}</li>",
            escape(&method(api)),
            escape(api.path.as_deref().unwrap_or_default()),
            escape(api.name.as_deref().unwrap_or_default())
        );
    }
    page.push_str("</ul></nav>\n<main>\n");
    for (index, api) in service.apis.iter().enumerate() {
        render_api(&mut page, index, api);
    }
    page.push_str("</main>\n</body>\n</html>\n");
    page
}

fn method(api: &file::Api) -> String {
    let websocket = api.protocol.as_deref().is_some_and(|protocol| protocol.starts_with("ws"));
    api.method.clone().unwrap_or_else(|| if websocket { "GET".into() } else { String::new() }).to_ascii_uppercase()
}

fn render_api(page: &mut String, index: usize, api: &file::Api) {
    let name = api.name.as_deref().unwrap_or_default();
    let path = api.path.as_deref().unwrap_or_default();
    let _ = write!(page, "<section id=\"api-{index}\"><h2>{}</h2><p class=\"endpoint\"><span class=\"method\">{}</span> <code>{}</code></p>", escape(name), escape(&method(api)), escape(path));
    if let Some(description) = &api.description {
        let _ = write!(page, "<p>{}</p>", escape(description));
    }
    let auth = match api.auth.as_deref().unwrap_or("none") {
        "key_pair" => "key pair (HMAC signature, <code>Authorization: hmac id=&quot;...&quot;</code>; the key must be in a usage plan of this stage)".to_owned(),
        "oauth" => "OAuth 2.0 (a JWT, <code>Authorization: Bearer &lt;token&gt;</code>)".to_owned(),
        "none" => "none".to_owned(),
        other => escape(other),
    };
    let protocol = api.protocol.as_deref().unwrap_or("http&https");
    let _ = write!(
        page,
        "<dl><dt>Authentication</dt><dd>{auth}</dd><dt>Protocol</dt><dd>{}</dd><dt>CORS</dt><dd>{}</dd>",
        escape(protocol),
        if api.cors == Some(true) { "enabled" } else { "disabled" }
    );
    if let Some(kind) = &api.response_type {
        let _ = write!(page, "<dt>Response type</dt><dd>{}</dd>", escape(kind));
    }
    page.push_str("</dl>");
    if !api.params.is_empty() {
        page.push_str("<h3>Parameters</h3><table><thead><tr><th>Name</th><th>In</th><th>Type</th><th>Required</th><th>Default</th><th>Sample</th><th>Description</th></tr></thead><tbody>");
        for param in &api.params {
            let cell = |value: &Option<String>| value.as_deref().map(escape).unwrap_or_default();
            let _ = write!(
                page,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                cell(&param.name),
                cell(&param.position),
                escape(param.kind.as_deref().unwrap_or("string")),
                if param.required == Some(true) { "yes" } else { "no" },
                cell(&param.default),
                cell(&param.sample),
                cell(&param.desc)
            );
        }
        page.push_str("</tbody></table>");
    }
    for (title, sample) in [
        ("Success response sample", &api.success_response_sample),
        ("Failure response sample", &api.failure_response_sample),
    ] {
        if let Some(sample) = sample {
            let _ = write!(page, "<h3>{title}</h3><pre>{}</pre>", escape(sample));
        }
    }
    if !api.error_codes.is_empty() {
        page.push_str("<h3>Error codes</h3><table><thead><tr><th>Code</th><th>Message</th><th>Description</th><th>Client sees</th></tr></thead><tbody>");
        for error_code in &api.error_codes {
            let code = error_code.code.map(|code| code.to_string()).unwrap_or_default();
            let _ = write!(
                page,
                "<tr><td>{code}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(error_code.message.as_deref().unwrap_or_default()),
                escape(error_code.description.as_deref().unwrap_or_default()),
                error_code.converted_code.map_or(code.clone(), |converted| converted.to_string()),
            );
        }
        page.push_str("</tbody></table>");
    }
    page.push_str("</section>\n");
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM UTC` from seconds since the epoch (days-to-civil, Howard Hinnant's method).
fn date(seconds: u64) -> String {
    let text = crate::calendar::format_date_time(seconds as i64);
    // Minutes are enough for a release time.
    format!("{} UTC", &text[..16])
}

/// The page's only stylesheet (inline, so the page is one file). The console shows the page in a
/// frame under its own policy, which admits this stylesheet by its hash (see console.rs).
pub(super) const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:960px;padding:1.5rem;color:#1f2328;line-height:1.5}\
h1{margin-bottom:.2rem}.meta{color:#57606a}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;background:#f6f8fa;border-radius:4px}\
code{padding:.1rem .3rem}pre{padding:.8rem;overflow:auto;white-space:pre-wrap}section{border-top:1px solid #d0d7de;margin-top:1.5rem;padding-top:.5rem}\
.method{display:inline-block;min-width:3.5rem;font-weight:600;color:#0969da}table{border-collapse:collapse;width:100%}\
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f6f8fa}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}nav ul{padding-left:1.2rem}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(date(0), "1970-01-01 00:00 UTC");
        assert_eq!(date(1_714_521_600 + 3600 + 120), "2024-05-01 01:02 UTC");
    }
}
