//! `zzz gen job NAME`: a zzz_jobs worker, the app's job registry (created with the first
//! worker, with the `zzz_jobs` dependency), and a test that runs it inline and from its
//! queue.

use super::{App, Plan};
use crate::names::{check_item_name, to_camel, to_snake};
use crate::render::{render, template};

/// Options of `zzz gen job`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The worker's name (`SendEmail`): `src/jobs/send_email_worker.rs`, `SendEmailWorker`.
    pub name: String,
    /// The queue its jobs go to.
    #[arg(long, default_value = "default")]
    pub queue: String,
}

/// The `zzz_jobs` dependency line, made like the app's `zzz` one (same checkout or version).
fn jobs_dependency(manifest: &str) -> Option<String> {
    let line = manifest.lines().find(|l| l.trim_start().starts_with("zzz ="))?;
    if let Some(start) = line.find("path = \"") {
        let rest = &line[start + 8..];
        let path = &rest[..rest.find('"')?];
        let checkout = path.strip_suffix("/zzz").or_else(|| path.strip_suffix("\\zzz"))?;
        return Some(format!("zzz_jobs = {{ path = {:?} }}", format!("{checkout}/zzz_jobs")));
    }
    let start = line.find("version = \"")?;
    let rest = &line[start + 11..];
    Some(format!("zzz_jobs = {{ version = {:?} }}", &rest[..rest.find('"')?]))
}

/// Plans `zzz gen job`.
pub fn plan(app: &App, args: Args) -> Result<Plan, String> {
    app.require_db("job")?;
    check_item_name("job", &args.name)?;
    let base = to_snake(args.name.strip_suffix("Worker").unwrap_or(&args.name));
    let module = format!("{base}_worker");
    let worker = to_camel(&module);
    if !crate::names::is_snake(&args.queue) {
        return Err(format!("invalid queue name `{}`: use snake_case", args.queue));
    }
    let mut vars = app.vars();
    vars.set("module", &module).set("worker", &worker).set("schema", to_camel(&base)).set("queue", &args.queue);
    let mut plan = Plan::default();
    let manifest = std::fs::read_to_string(app.root.join("Cargo.toml")).unwrap_or_default();
    if !manifest.lines().any(|l| l.trim_start().starts_with("zzz_jobs")) {
        let dependency = jobs_dependency(&manifest)
            .ok_or("Cargo.toml has no `zzz = { path = … }` or `zzz = { version = … }` line to derive the zzz_jobs dependency from")?;
        plan.insert("Cargo.toml", "# zzz:dependencies", vec![dependency]);
    }
    if !app.root.join("src/jobs/mod.rs").exists() {
        plan.create("src/jobs/mod.rs", render("gen/jobs_mod.rs", template("gen/jobs_mod.rs"), &vars)?.unwrap_or_default())
            .insert("src/lib.rs", "// zzz:modules", vec!["pub mod jobs;".into()]);
    }
    plan.create(format!("src/jobs/{module}.rs"), render("gen/job.rs", template("gen/job.rs"), &vars)?.unwrap_or_default())
        .create(format!("tests/app/{module}_test.rs"), render("gen/job_test.rs", template("gen/job_test.rs"), &vars)?.unwrap_or_default())
        .insert("src/jobs/mod.rs", "// zzz:job-mods", vec![format!("pub mod {module};")])
        .insert("src/jobs/mod.rs", "// zzz:job-registry", vec![format!(".register({module}::{worker})")])
        .insert("tests/app/main.rs", "// zzz:test-mods", vec![format!("mod {module}_test;")])
        .note(format!(
            "To run jobs, start a runner in src/main.rs after connecting the repo:\n\n    \
             zzz_jobs::Jobs::migrate(&repo).await?;\n    \
             let runner = zzz_jobs::Runner::builder(&repo).queue({:?}, 10).registry({}::jobs::registry()).start().await?;\n\n\
             and `runner.shutdown().await` after the server stops.",
            args.queue, app.name
        ));
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::jobs_dependency;

    #[test]
    fn the_jobs_dependency_follows_the_zzz_one() {
        assert_eq!(
            jobs_dependency("zzz = { path = \"/src/zzz/zzz\", default-features = false }").as_deref(),
            Some("zzz_jobs = { path = \"/src/zzz/zzz_jobs\" }")
        );
        assert_eq!(
            jobs_dependency("zzz = { version = \"0.1.0\", default-features = false }").as_deref(),
            Some("zzz_jobs = { version = \"0.1.0\" }")
        );
    }
}
