//! `zzz server`: the dev loop. Builds and runs the app, rebuilds and restarts it
//! when its files change, keeps the port open across restarts, shows compile
//! errors in the terminal and the browser, and reloads open pages. See
//! [`crate::dev`] for how.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::app::AppArgs;
use crate::dev::{self, Options, builder::BuildSpec};

/// Options of `zzz server`.
#[derive(clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// Port to listen on [default: $PORT, else 4000]
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// Address to listen on [default: $ZZZ_HOST, else 127.0.0.1]
    #[arg(long, value_name = "IP")]
    host: Option<IpAddr>,
    /// Build and run in release mode
    #[arg(short, long)]
    release: bool,
    /// Also watch this file or directory (repeatable)
    #[arg(short, long, value_name = "PATH")]
    watch: Vec<PathBuf>,
    #[command(flatten)]
    app: AppArgs,
    /// Arguments for the app
    #[arg(last = true, value_name = "ARGS")]
    app_args: Vec<String>,
}

const AFTER_HELP: &str = "\
The port is bound once and handed to each build of the app (ZZZ_LISTEN_FD), so
requests made while the app rebuilds wait and then succeed. Every file of the
project counts as a change (sources, templates, static files, config) except
target/, node_modules/, dot-directories, editor swap files, Cargo.lock, and what
the project's .gitignore ignores (such as the dev SQLite database).

A compile error is printed here and served as the page (status 500) until a
build succeeds. Pages open in a browser reload by themselves after each rebuild:
the app runs with ZZZ_LIVE_RELOAD=1, which makes zzz inject a small script into
HTML responses (never without that variable).

Examples:
  zzz server                      # the app in the current directory, port 4000
  zzz server --port 8080 -p web   # package `web` of a workspace
  zzz server -- --some-app-flag   # arguments after -- go to the app";

/// Runs the command.
pub fn run(args: Args) -> Result<(), String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let port = match args.port {
        Some(port) => port,
        None => match env("PORT") {
            Some(v) => v.trim().parse().map_err(|_| format!("environment variable PORT={v:?} is not a port number"))?,
            None => 4000,
        },
    };
    let host = match args.host {
        Some(host) => host,
        None => match env("ZZZ_HOST") {
            Some(v) => v.trim().parse().map_err(|_| format!("environment variable ZZZ_HOST={v:?} is not an IP address"))?,
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
        },
    };
    dev::run(Options {
        addr: SocketAddr::new(host, port),
        build: BuildSpec { app: args.app, release: args.release },
        watch: args.watch,
        app_args: args.app_args,
    })
}
