//! HTML helpers for pages built without a template engine (error pages, dashboards,
//! small status pages).

/// Escapes text for HTML element content and attribute values: `&`, `<`, `>`, `"` and
/// `'` become character references, everything else is kept.
///
/// ```
/// assert_eq!(zzz::html::escape(r#"<a href="x">Tom & Jerry's</a>"#), "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
