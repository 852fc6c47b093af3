//! The browser stack on zzz, as a small notes app:
//!
//! - `/` — a form page (askama templates: a root layout, a notes layout, a flash
//!   partial and a note component) with a CSRF token, the author kept in the session,
//!   and flash messages after the redirect;
//! - `/notes` — the form's `POST` (CSRF-checked), `/notes/:id` — `DELETE` through a
//!   `_method` override;
//! - `/api/notes` — a JSON API behind a bearer token, rate limited per client IP;
//! - `/static/…` — a static directory (ETags, precompressed variants).
//!
//! [`endpoint`] builds the app; `main.rs` serves it on `PORT`.

use std::sync::{Arc, Mutex};

use askama::Template;
use serde::{Deserialize, Serialize};
use zzz::plugs::{
    Accepts, AuthRejection, BearerToken, halt_with, CookieSession, CsrfProtection, Flash, Form, Logger, MethodOverride, Parsers, RateLimit,
    SecretKeyBase, SecureHeaders, Session, Static,
};
use zzz::template::{ErrorPages, Page, PageContext};
use zzz::{Conn, Endpoint, Json, Path, Pipeline, Redirect, State, StatusCode};

zzz::router! {
    /// The demo's routes.
    pub DemoRouter;

    pipeline browser {
        plug Accepts::new(&["html"]);
        plug CookieSession::new();
        plug CsrfProtection::new();
        plug SecureHeaders::new();
    }

    pipeline api {
        plug Accepts::new(&["json"]);
        plug RateLimit::per_ip(60, 10.0);
        plug require_api_token;
    }

    scope "/" {
        pipe_through [browser];
        get "/" => index, as: root;
        post "/notes" => create, as: notes;
        delete "/notes/:id" => delete, as: note;
    }

    scope "/api" {
        pipe_through [api];
        get "/notes" => api_index, as: api_notes;
        post "/notes" => api_create;
    }
}

/// The demo's settings.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// The bearer token the JSON API accepts.
    pub api_token: String,
    /// The master secret for sessions and cookies.
    pub secret: SecretKeyBase,
    /// The static directory served at `/static`.
    pub static_dir: std::path::PathBuf,
    /// Development error pages (request details and backtraces).
    pub debug: bool,
}

impl DemoConfig {
    /// From the environment: `API_TOKEN` (default `demo-token`), `SECRET_KEY_BASE`
    /// (a random one in development), `ZZZ_ENV=prod` for production error pages and a
    /// required secret.
    pub fn from_env() -> Result<DemoConfig, String> {
        let prod = std::env::var("ZZZ_ENV").is_ok_and(|env| env == "prod");
        let secret = match SecretKeyBase::from_env() {
            Ok(secret) => secret,
            Err(err) if prod => return Err(err.to_string()),
            Err(_) => SecretKeyBase::generate(),
        };
        Ok(DemoConfig {
            api_token: std::env::var("API_TOKEN").unwrap_or_else(|_| "demo-token".to_owned()),
            secret,
            static_dir: default_static_dir(),
            debug: !prod,
        })
    }
}

/// The `static/` directory next to this crate's manifest.
pub fn default_static_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static"))
}

/// One note.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Note {
    /// Its id.
    pub id: u64,
    /// Who wrote it.
    pub author: String,
    /// What it says.
    pub body: String,
}

/// The notes, in memory.
#[derive(Clone, Default, Debug)]
pub struct Notes(Arc<Mutex<(u64, Vec<Note>)>>);

impl Notes {
    fn add(&self, author: &str, body: &str) -> Note {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        guard.0 += 1;
        let note = Note { id: guard.0, author: author.to_owned(), body: body.to_owned() };
        guard.1.push(note.clone());
        note
    }

    fn remove(&self, id: u64) -> bool {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let before = guard.1.len();
        guard.1.retain(|n| n.id != id);
        guard.1.len() != before
    }

    fn list(&self) -> Vec<Note> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).1.clone()
    }
}

/// Builds the app: static files, logger, body parsers and method override, error
/// pages, then the router.
pub fn endpoint(config: DemoConfig) -> Endpoint<DemoRouter> {
    let pages = if config.debug { ErrorPages::debug() } else { ErrorPages::new() };
    Endpoint::new(DemoRouter::new())
        .state(config.secret.clone())
        .state(config.clone())
        .state(Notes::default())
        .pipeline(
            Pipeline::new()
                .plug(Static::new("/static", &config.static_dir).gzip(true).brotli(true))
                .plug(Logger::new())
                .plug(pages)
                .plug(Parsers::new())
                .plug(MethodOverride),
        )
}

#[derive(Template)]
#[template(path = "notes/index.html")]
struct NotesIndex {
    ctx: PageContext,
    author: Option<String>,
    notes: Vec<Note>,
}

async fn index(ctx: PageContext, session: Session, State(notes): State<Notes>) -> Page<NotesIndex> {
    Page(NotesIndex { ctx, author: session.get("author"), notes: notes.list() })
}

#[derive(Deserialize)]
struct NoteParams {
    author: String,
    body: String,
}

#[derive(Deserialize)]
struct NoteForm {
    note: NoteParams,
}

async fn create(session: Session, flash: Flash, State(notes): State<Notes>, Form(form): Form<NoteForm>) -> Redirect {
    let author = form.note.author.trim();
    let body = form.note.body.trim();
    if author.is_empty() || body.is_empty() {
        flash.put("error", "A note needs an author and a body.");
    } else {
        notes.add(author, body);
        session.put("author", author);
        flash.put("info", &format!("Note added by {author}."));
    }
    Redirect::see_other(&DemoRouter::root_path())
}

async fn delete(flash: Flash, State(notes): State<Notes>, Path(id): Path<u64>) -> Redirect {
    if notes.remove(id) {
        flash.put("info", "Note deleted.");
    } else {
        flash.put("error", &format!("There is no note {id}."));
    }
    Redirect::see_other(&DemoRouter::root_path())
}

/// The API's authentication: `Authorization: Bearer <API_TOKEN>`, else 401.
async fn require_api_token(conn: Conn) -> Conn {
    let expected = conn.state::<DemoConfig>().map(|c| c.api_token.clone()).unwrap_or_default();
    match BearerToken::from_conn(&conn) {
        Ok(BearerToken(token)) if !expected.is_empty() && token == expected => conn,
        Ok(_) => halt_with(conn, AuthRejection::new("Bearer", "the bearer token is not valid").with_error("invalid_token")),
        Err(rejection) => halt_with(conn, rejection),
    }
}

async fn api_index(State(notes): State<Notes>) -> Json<Vec<Note>> {
    Json(notes.list())
}

#[derive(Deserialize)]
struct NewNote {
    author: String,
    body: String,
}

async fn api_create(State(notes): State<Notes>, Json(new): Json<NewNote>) -> Result<(StatusCode, Json<Note>), (StatusCode, String)> {
    if new.author.trim().is_empty() || new.body.trim().is_empty() {
        return Err((StatusCode::UNPROCESSABLE_ENTITY, "a note needs a non-empty author and body".to_owned()));
    }
    Ok((StatusCode::CREATED, Json(notes.add(new.author.trim(), new.body.trim()))))
}
