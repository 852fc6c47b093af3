//! The routes, as Phoenix's router: a `browser` pipeline for pages (sessions, CSRF
//! protection, secure headers) and an `api` pipeline for JSON. `zzz routes` prints them.
//! `zzz gen` adds routes at the `zzz:` marker comments.

{{zzz:if html}}
use zzz::plugs::{Accepts, CookieSession, CsrfProtection, SecureHeaders};
{{zzz:else}}
use zzz::plugs::Accepts;
{{zzz:end}}

{{zzz:if channels}}
use crate::channels::AppSocket;
{{zzz:end}}
use crate::controllers::*;

zzz::router! {
    /// The routes of {{zzz:app}}.
    pub AppRouter;

{{zzz:if html}}
    pipeline browser {
        plug Accepts::new(&["html"]);
        plug CookieSession::new();
        plug CsrfProtection::new();
        plug SecureHeaders::new();
    }

{{zzz:end}}
    pipeline api {
        plug Accepts::new(&["json"]);
    }

    scope "/" {
{{zzz:if html}}
        pipe_through [browser];
{{zzz:else}}
        pipe_through [api];
{{zzz:end}}
        get "/" => page_controller::index, as: root;
        // zzz:browser-routes
    }

    scope "/api", as: api {
        pipe_through [api];
        get "/health" => health_controller::show, as: health;
        // zzz:api-routes
    }
{{zzz:if channels}}

    socket "/socket" => AppSocket;
{{zzz:end}}
}
