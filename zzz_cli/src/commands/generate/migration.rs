//! `zzz gen migration NAME`: an empty migration, added to `src/migrations/mod.rs`.

use super::{App, Plan};
use crate::names::{is_snake, to_snake};
use crate::render::render;

/// Options of `zzz gen migration`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// What the migration does, snake_case (`add_tags_to_posts`).
    pub name: String,
}

/// Seconds since 1970 as `YYYYMMDDHHMMSS` (UTC), the version Ecto gives migrations.
fn timestamp(secs: u64) -> i64 {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = ((rem / 3600) as i64, (rem % 3600 / 60) as i64, (rem % 60) as i64);
    ((((year * 100 + month) * 100 + day) * 100 + h) * 100 + m) * 100 + s
}

/// The versions of the app's migrations, from their file names (`m<version>_<name>.rs`).
fn existing_versions(app: &App) -> Vec<i64> {
    std::fs::read_dir(app.root.join("src/migrations"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_prefix('m')?.split('_').next()?.parse::<i64>().ok()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A new version: now, or one above the newest existing one (two migrations generated in
/// the same second stay ordered).
fn next_version(app: &App) -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let newest = existing_versions(app).into_iter().max().unwrap_or(0);
    // The next second after the newest (a real timestamp), unless that is far away.
    (0..3_600).map(|ahead| timestamp(now + ahead)).find(|v| *v > newest).unwrap_or(newest + 1)
}

/// Adds a migration to `plan`: its file, its `mod` line and its entry in the list.
/// `body` is the code inside `Migration::new`'s closure (operations on `m`); empty for a
/// migration to fill in.
pub fn add(app: &App, plan: &mut Plan, name: &str, doc: &str, body: &[String]) -> Result<i64, String> {
    let version = next_version(app);
    let module = format!("m{version}_{name}");
    let mut vars = app.vars();
    let uses_columns = body.iter().any(|l| l.contains("T::"));
    let uses_on_delete = body.iter().any(|l| l.contains("OnDelete::"));
    let imports = match (uses_columns, uses_on_delete) {
        (_, true) => "use zzz_db::Migration;\nuse zzz_db::migration::{ColumnType as T, OnDelete};",
        (true, false) => "use zzz_db::Migration;\nuse zzz_db::migration::ColumnType as T;",
        _ => "use zzz_db::Migration;",
    };
    let body_text = if body.is_empty() {
        "        // The operations, e.g. (see zzz_db's guide, \"Migrations\"):\n        // m.alter_table(\"posts\", |t| {\n        //     t.add(\"views\", zzz_db::migration::ColumnType::BigInt).not_null().default(0);\n        // });".to_owned()
    } else {
        body.iter().map(|l| if l.is_empty() { String::new() } else { format!("        {l}") }).collect::<Vec<_>>().join("\n")
    };
    vars.set("version", version.to_string())
        .set("migration_name", name)
        .set("migration_doc", doc)
        .set("migration_imports", imports)
        .set("ops_var", if body.is_empty() { "_m" } else { "m" })
        .set("migration_body", body_text);
    let text = render("gen/migration.rs", crate::render::template("gen/migration.rs"), &vars)?.unwrap_or_default();
    plan.create(format!("src/migrations/{module}.rs"), text)
        .insert("src/migrations/mod.rs", "// zzz:migration-mods", vec![format!("mod {module};")])
        .insert("src/migrations/mod.rs", "// zzz:migrations", vec![format!("{module}::migration(),")]);
    Ok(version)
}

/// Plans `zzz gen migration`.
pub fn plan(app: &App, args: Args) -> Result<Plan, String> {
    app.require_db("migration")?;
    let name = to_snake(&args.name);
    if !is_snake(&name) {
        return Err(format!("invalid migration name `{}`: use snake_case words, e.g. `add_tags_to_posts`", args.name));
    }
    let mut plan = Plan::default();
    let version = add(app, &mut plan, &name, &format!("{name}: fill in its operations."), &[])?;
    plan.note(format!("Fill in src/migrations/m{version}_{name}.rs, then run `zzz migrate`."));
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::timestamp;

    #[test]
    fn timestamps_are_utc_calendar_digits() {
        assert_eq!(timestamp(0), 19700101000000);
        assert_eq!(timestamp(1_709_251_199), 20240229235959); // a leap day
        assert_eq!(timestamp(1_735_689_600), 20250101000000);
    }
}
