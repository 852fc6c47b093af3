//! `zzz gen …`: generators that write code into an app made by `zzz new`. Each writes
//! its new files, then edits the app's files at their `// zzz:…` marker comments (the
//! module lists, the router, the migration list, the test list) so the result builds and
//! its tests pass as-is; it prints what it created and what is left to do by hand. A
//! missing marker is reported with the lines to paste instead.

mod app;
mod channel;
mod controller;
mod fields;
mod job;
mod migration;
mod resource;
mod resource_html;

use std::path::PathBuf;

pub use app::App;

/// The generators.
#[derive(clap::Subcommand)]
pub enum Gen {
    /// A migration in src/migrations/, added to the list `zzz migrate` runs.
    Migration(migration::Args),
    /// A schema with its changeset (src/models/) and the migration creating its table.
    Model(resource::ModelArgs),
    /// A controller with actions, their routes, pages (or JSON) and tests.
    Controller(controller::Args),
    /// A model, its migration, a controller (JSON API or HTML pages), routes and tests.
    Resource(resource::ResourceArgs),
    /// A channel on the app's socket, its route and a test.
    Channel(channel::Args),
    /// A background job worker (zzz_jobs), its registry and a test.
    Job(job::Args),
}

/// The keys the `gen` templates use (besides the `new` ones).
#[cfg(test)]
pub const KEYS: &[&str] = &[
    "version", "migration_name", "migration_doc", "migration_imports", "ops_var", "migration_body", "schema", "module", "table",
    "var", "human", "path", "struct_fields", "field_list", "required_list", "validations", "valid_attrs", "update_attrs",
    "required_errors", "form_inputs", "controller", "action", "title", "name", "topic", "worker", "queue", "route_helper",
    "list_columns", "list_cells", "show_fields", "action_list", "actions",
];

/// Runs a generator in the app in the current directory.
pub fn run(generator: Gen) -> Result<(), String> {
    let app = App::find(&std::env::current_dir().map_err(|e| format!("the current directory: {e}"))?)?;
    let plan = match generator {
        Gen::Migration(args) => migration::plan(&app, args)?,
        Gen::Model(args) => resource::plan_model(&app, args)?,
        Gen::Controller(args) => controller::plan(&app, args)?,
        Gen::Resource(args) => resource::plan_resource(&app, args)?,
        Gen::Channel(args) => channel::plan(&app, args)?,
        Gen::Job(args) => job::plan(&app, args)?,
    };
    plan.apply(&app)
}

/// What a generator does: files to create, lines to insert at markers, notes to print.
#[derive(Default, Debug)]
pub struct Plan {
    creates: Vec<(PathBuf, String)>,
    inserts: Vec<Insert>,
    notes: Vec<String>,
}

/// Lines to insert before a marker comment of a file.
#[derive(Debug)]
struct Insert {
    file: PathBuf,
    marker: &'static str,
    lines: Vec<String>,
}

impl Plan {
    /// Creates `path` (relative to the app) with `content`.
    pub fn create(&mut self, path: impl Into<PathBuf>, content: String) -> &mut Self {
        self.creates.push((path.into(), content));
        self
    }

    /// Inserts `lines` before the line holding `marker` in `file`, at its indentation.
    pub fn insert(&mut self, file: impl Into<PathBuf>, marker: &'static str, lines: Vec<String>) -> &mut Self {
        self.inserts.push(Insert { file: file.into(), marker, lines });
        self
    }

    /// A note printed after the files (what is left to do by hand).
    pub fn note(&mut self, note: impl Into<String>) -> &mut Self {
        self.notes.push(note.into());
        self
    }

    /// Writes the files and edits, refusing to overwrite any existing file.
    fn apply(self, app: &App) -> Result<(), String> {
        for (path, _) in &self.creates {
            if app.root.join(path).exists() {
                return Err(format!("{} already exists; nothing was written", path.display()));
            }
        }
        let mut creates = self.creates;
        let mut edited: Vec<(PathBuf, String)> = Vec::new();
        let mut unplaced: Vec<String> = Vec::new();
        for insert in &self.inserts {
            // The file's text so far: created by this plan, already edited, or on disk.
            let slot = match creates.iter().position(|(p, _)| *p == insert.file) {
                Some(i) => &mut creates[i].1,
                None => {
                    let i = match edited.iter().position(|(p, _)| *p == insert.file) {
                        Some(i) => i,
                        None => {
                            let text = std::fs::read_to_string(app.root.join(&insert.file)).unwrap_or_default();
                            edited.push((insert.file.clone(), text));
                            edited.len() - 1
                        }
                    };
                    &mut edited[i].1
                }
            };
            match insert_before_marker(slot, insert.marker, &insert.lines) {
                Some(updated) => *slot = updated,
                None => unplaced.push(format!(
                    "{} has no `{}` marker; add these lines there yourself:\n{}",
                    insert.file.display(),
                    insert.marker,
                    insert.lines.iter().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
                )),
            }
        }
        for (path, content) in &creates {
            let target = app.root.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
            }
            std::fs::write(&target, content).map_err(|e| format!("writing {}: {e}", target.display()))?;
            println!("* creating {}", path.display());
        }
        let original = |path: &PathBuf| std::fs::read_to_string(app.root.join(path)).unwrap_or_default();
        for (path, content) in edited.iter().filter(|(path, content)| *content != original(path)) {
            std::fs::write(app.root.join(path), content).map_err(|e| format!("writing {}: {e}", path.display()))?;
            println!("* updating {}", path.display());
        }
        for message in unplaced.iter().chain(&self.notes) {
            println!("\n{message}");
        }
        Ok(())
    }
}

/// `text` with `lines` inserted before the line containing `marker`, at that line's
/// indentation; `None` when there is no such line.
fn insert_before_marker(text: &str, marker: &str, lines: &[String]) -> Option<String> {
    let at = text.find(marker)?;
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let indent: String = text[line_start..at].chars().take_while(|c| c.is_whitespace()).collect();
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str(&text[..line_start]);
    for line in lines {
        if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str(&indent);
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&text[line_start..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_go_before_the_marker_at_its_indentation() {
        let text = "vec![\n    a(),\n    // zzz:list\n]\n";
        assert_eq!(
            insert_before_marker(text, "// zzz:list", &["b(),".into(), "c(),".into()]).unwrap(),
            "vec![\n    a(),\n    b(),\n    c(),\n    // zzz:list\n]\n"
        );
        assert_eq!(insert_before_marker(text, "// zzz:other", &["x".into()]), None);
    }
}
