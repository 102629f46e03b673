//! sluice's own dashboard, compiled into the binary: one page, one style
//! sheet and one script, plain HTML, CSS and JavaScript with no libraries
//! and no build step, so it works offline. The script reads Rspamd's
//! controller endpoints (`/auth`, `/stat`, `/graph`, `/pie`, `/history`,
//! `/actions`, `/saveactions`, `/checkv2`) and `/metrics` for upstream
//! health. The asset names cannot clash with a controller command.
use super::mime;

/// One file of the dashboard.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static str,
}

const FILES: &[(&str, &str)] = &[
    ("index.html", include_str!("dashboard/index.html")),
    ("sluice-ui.css", include_str!("dashboard/sluice-ui.css")),
    ("sluice-ui.js", include_str!("dashboard/sluice-ui.js")),
];

/// The asset a URL path names; `/` is the page.
pub fn asset(path: &str) -> Option<Asset> {
    let name = match path.trim_start_matches('/') {
        "" => "index.html",
        n => n,
    };
    FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, body)| Asset {
            content_type: mime::content_type(n),
            body,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_and_its_assets() {
        let page = asset("/").unwrap();
        assert_eq!(page.content_type, "text/html; charset=utf-8");
        assert_eq!(asset("/index.html").unwrap().body, page.body);
        // Every file the page links is served, and nothing else.
        for (name, _) in FILES.iter().skip(1) {
            assert!(
                page.body.contains(&format!("\"{name}\"")),
                "{name} not linked"
            );
            assert!(asset(&format!("/{name}")).is_some());
        }
        assert_eq!(
            asset("/sluice-ui.js").unwrap().content_type,
            "text/javascript; charset=utf-8"
        );
        assert!(asset("/../index.html").is_none());
        assert!(asset("/favicon.ico").is_none());
    }

    #[test]
    fn works_offline() {
        for (name, body) in FILES {
            for remote in ["http://", "https://", "//cdn", "@import"] {
                let hit = body
                    .lines()
                    .any(|l| l.contains(remote) && !l.contains("www.w3.org/2000/svg"));
                assert!(!hit, "{name} refers to {remote}");
            }
        }
        // No favicon request: the browser would log its 404.
        assert!(asset("/")
            .unwrap()
            .body
            .contains("rel=\"icon\" href=\"data:,\""));
    }
}
