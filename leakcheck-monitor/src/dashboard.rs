//! The live dashboard: one self-contained HTML page (inline CSS and JavaScript, no external
//! assets) that polls `api/status` and `api/samples` as often as the monitor samples, draws SVG
//! charts of the heap, RSS, threads, fds and the allocation rate, and shows each resource's
//! state, growth rate and time to its limit, with suspected and leaking resources highlighted.
//!
//! The page fetches *relative* URLs, so it works wherever it is mounted as long as the two JSON
//! routes sit next to it: `/dashboard` with `/api/status`, or `/ops/leaks/dashboard` with
//! `/ops/leaks/api/status`. When the server requires a bearer token, open the page as
//! `…/dashboard#token=TOKEN`: the fragment never leaves the browser, and the page sends it as an
//! `Authorization` header with each poll.

/// The `Content-Type` of [`page`].
pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// The `Content-Security-Policy` to serve [`page`] with: its own inline script and style, data
/// fetched from the same origin, nothing else (no other origin, no frames, no plugins).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The dashboard page. It holds no data (everything arrives through the JSON routes), so it is
/// the same for every process and can be served without authentication.
pub fn page() -> &'static str {
    include_str!("dashboard.html")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        let page = page();
        for needle in ["http://", "https://", "//cdn", "src=\"", "@import", "url("] {
            let hits: Vec<_> = page
                .match_indices(needle)
                .map(|(i, _)| &page[i..(i + 60).min(page.len())])
                // The SVG namespace is a name, not something fetched.
                .filter(|s| !s.starts_with("http://www.w3.org/2000/svg"))
                .collect();
            assert!(hits.is_empty(), "{needle}: {hits:?}");
        }
        assert!(page.contains("fetch(\"api/status\"") && page.contains("fetch(\"api/samples\""));
    }
}
