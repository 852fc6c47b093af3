//! `zzz routes [-p PACKAGE] [--bin NAME]`: the app's route table as `mix phx.routes`
//! prints it (helper, verb, path, handler, socket mounts as `WS`). The app is run with
//! `ZZZ_ROUTES_OUTPUT` set and exits before serving (its `main` calls
//! `zzz::router::export_routes_if_requested`).

use super::app::{AppArgs, TempFile, run_to_file};

/// Options of `zzz routes`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    app: AppArgs,
}

/// Runs the command.
pub fn run(args: Args) -> Result<(), String> {
    let file = TempFile::new("routes.txt");
    run_to_file(&args.app, "ZZZ_ROUTES_OUTPUT", &file.0, "zzz::router::export_routes_if_requested")?;
    let table = std::fs::read_to_string(&file.0).map_err(|e| format!("{}: {e}", file.0.display()))?;
    print!("{table}");
    Ok(())
}
