//! `zzz gen channel NAME`: a channel on the app's socket (`<name>:*`), its route and a test.

use super::{App, Plan};
use crate::names::{check_item_name, to_camel, to_snake};
use crate::render::{render, template};

/// Options of `zzz gen channel`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The channel's name (`Chat`): `src/channels/chat_channel.rs`, topics `chat:*`.
    pub name: String,
}

/// Plans `zzz gen channel`.
pub fn plan(app: &App, args: Args) -> Result<Plan, String> {
    if !app.channels {
        return Err("this app has no socket (it was made with --no-channels): nothing to add a channel to".into());
    }
    check_item_name("channel", &args.name)?;
    let name = to_snake(&args.name);
    let module = format!("{name}_channel");
    let schema = to_camel(&name);
    let mut vars = app.vars();
    vars.set("name", &name).set("topic", &name).set("module", &module).set("schema", &schema);
    let code = render("gen/channel.rs", template("gen/channel.rs"), &vars)?.unwrap_or_default();
    let test = render("gen/channel_test.rs", template("gen/channel_test.rs"), &vars)?.unwrap_or_default();
    let mut plan = Plan::default();
    plan.create(format!("src/channels/{module}.rs"), code)
        .create(format!("tests/app/{module}_test.rs"), test)
        .insert("src/channels/mod.rs", "// zzz:channel-mods", vec![format!("pub mod {module};")])
        .insert("src/channels/mod.rs", "// zzz:channel-routes", vec![format!("routes.channel(\"{name}:*\", || {module}::{schema}Channel);")])
        .insert("tests/app/main.rs", "// zzz:test-mods", vec![format!("mod {module}_test;")])
        .note(format!("From the phoenix JS client: `socket.channel(\"{name}:lobby\", {{}}).join()`."));
    Ok(plan)
}
