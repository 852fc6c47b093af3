//! The `{{zzz:name}}` controller: {{zzz:action_list}}.

{{zzz:if html}}
use zzz::template::askama::Template;
use zzz::template::{Page, PageContext};
{{zzz:else}}
use serde::Serialize;
use zzz::Json;

/// What each action answers (replace with your own types).
#[derive(Serialize)]
pub struct Answer {
    /// The controller.
    pub controller: &'static str,
    /// The action.
    pub action: &'static str,
}
{{zzz:end}}
{{zzz:actions}}
