//! Scopes walked into one flat, checked route list.

use proc_macro2::Span;
use quote::ToTokens;
use syn::{Expr, Ident, Type};

use super::parse::{Item, RouterInput};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Static(String),
    Param(String),
    Wildcard(String),
}

pub enum Target {
    Handler(Expr),
    Forward(usize),
}

pub struct FlatRoute {
    /// Upper-case verb, or `*` for any method.
    pub verb: String,
    pub path: String,
    pub segments: Vec<Seg>,
    pub target: Target,
    pub handler_display: String,
    /// Index into `Table::combos`, when the route pipes through anything.
    pub combo: Option<usize>,
    pub pipe_names: Vec<String>,
    pub helper: Option<String>,
    pub span: Span,
}

impl FlatRoute {
    pub fn param_names(&self) -> Vec<&str> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Seg::Param(n) | Seg::Wildcard(n) => Some(n.as_str()),
                Seg::Static(_) => None,
            })
            .collect()
    }
}

pub struct Table {
    pub routes: Vec<FlatRoute>,
    /// Distinct `pipe_through` lists, as pipeline names.
    pub combos: Vec<Vec<Ident>>,
    pub forwards: Vec<Type>,
}

#[derive(Clone)]
struct Ctx {
    prefix: Vec<String>,
    alias: Vec<String>,
    pipes: Vec<Ident>,
}

pub fn flatten(input: &RouterInput) -> syn::Result<Table> {
    let mut table = Table { routes: Vec::new(), combos: Vec::new(), forwards: Vec::new() };
    let mut pipelines: Vec<Ident> = Vec::new();
    collect_pipelines(&input.items, &mut pipelines)?;
    let ctx = Ctx { prefix: Vec::new(), alias: Vec::new(), pipes: Vec::new() };
    walk(&input.items, ctx, &pipelines, &mut table)?;
    check(&table)?;
    Ok(table)
}

fn collect_pipelines(items: &[Item], out: &mut Vec<Ident>) -> syn::Result<()> {
    for item in items {
        match item {
            Item::Pipeline(def) => {
                if let Some(first) = out.iter().find(|p| **p == def.name) {
                    let mut err = syn::Error::new(def.name.span(), format!("pipeline `{}` is defined twice", def.name));
                    err.combine(syn::Error::new(first.span(), "first defined here"));
                    return Err(err);
                }
                out.push(def.name.clone());
            }
            Item::Scope(scope) => collect_pipelines(&scope.items, out)?,
            _ => {}
        }
    }
    Ok(())
}

fn split_path(lit: &syn::LitStr) -> syn::Result<Vec<String>> {
    let value = lit.value();
    if !value.starts_with('/') {
        return Err(syn::Error::new(lit.span(), format!("route paths start with `/`; found {value:?}")));
    }
    Ok(value.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect())
}

fn parse_segments(parts: &[String], span: Span) -> syn::Result<Vec<Seg>> {
    let mut segs = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let seg = if let Some(name) = part.strip_prefix(':') {
            check_param_name(name, part, span)?;
            Seg::Param(name.to_owned())
        } else if let Some(name) = part.strip_prefix('*') {
            check_param_name(name, part, span)?;
            if i + 1 != parts.len() {
                return Err(syn::Error::new(
                    span,
                    format!("the wildcard `{part}` must be the last segment of the path"),
                ));
            }
            Seg::Wildcard(name.to_owned())
        } else {
            Seg::Static(part.clone())
        };
        segs.push(seg);
    }
    let mut seen: Vec<&str> = Vec::new();
    for seg in &segs {
        if let Seg::Param(n) | Seg::Wildcard(n) = seg {
            if seen.contains(&n.as_str()) {
                return Err(syn::Error::new(span, format!("path parameter `{n}` appears twice in this path")));
            }
            seen.push(n);
        }
    }
    Ok(segs)
}

fn check_param_name(name: &str, part: &str, span: Span) -> syn::Result<()> {
    let mut chars = name.chars();
    let valid = matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(syn::Error::new(
            span,
            format!("`{part}`: a path parameter needs a name made of letters, digits and `_`, like `:id`"),
        ))
    }
}

fn display_path(segs: &[Seg]) -> String {
    if segs.is_empty() {
        return "/".into();
    }
    let mut out = String::new();
    for seg in segs {
        out.push('/');
        match seg {
            Seg::Static(s) => out.push_str(s),
            Seg::Param(n) => {
                out.push(':');
                out.push_str(n);
            }
            Seg::Wildcard(n) => {
                out.push('*');
                out.push_str(n);
            }
        }
    }
    out
}

fn combo_index(table: &mut Table, pipes: &[Ident]) -> Option<usize> {
    if pipes.is_empty() {
        return None;
    }
    let names: Vec<String> = pipes.iter().map(ToString::to_string).collect();
    if let Some(i) = table.combos.iter().position(|c| c.iter().map(ToString::to_string).eq(names.iter().cloned())) {
        return Some(i);
    }
    table.combos.push(pipes.to_vec());
    Some(table.combos.len() - 1)
}

fn tokens_display(tokens: &impl ToTokens) -> String {
    tokens.to_token_stream().to_string().replace(" :: ", "::").replace(":: ", "::").replace(" ::", "::")
}

fn helper_name(ctx: &Ctx, name: &str) -> String {
    let mut parts = ctx.alias.clone();
    parts.push(name.to_owned());
    format!("{}_path", parts.join("_"))
}

#[allow(clippy::too_many_arguments)]
fn push_route(
    table: &mut Table,
    ctx: &Ctx,
    verb: &str,
    path_parts: &[String],
    target: Target,
    handler_display: String,
    helper: Option<String>,
    span: Span,
) -> syn::Result<()> {
    let mut parts = ctx.prefix.clone();
    parts.extend_from_slice(path_parts);
    let segments = parse_segments(&parts, span)?;
    let combo = combo_index(table, &ctx.pipes);
    table.routes.push(FlatRoute {
        verb: verb.to_owned(),
        path: display_path(&segments),
        segments,
        target,
        handler_display,
        combo,
        pipe_names: ctx.pipes.iter().map(ToString::to_string).collect(),
        helper,
        span,
    });
    Ok(())
}

fn walk(items: &[Item], mut ctx: Ctx, pipelines: &[Ident], table: &mut Table) -> syn::Result<()> {
    for item in items {
        match item {
            Item::Pipeline(_) => {}
            Item::PipeThrough(names) => {
                for name in names {
                    if !pipelines.contains(name) {
                        return Err(syn::Error::new(
                            name.span(),
                            format!("no pipeline named `{name}`; define it with `pipeline {name} {{ plug ...; }}`"),
                        ));
                    }
                    ctx.pipes.push(name.clone());
                }
            }
            Item::Scope(scope) => {
                let mut inner = ctx.clone();
                inner.prefix.extend(split_path(&scope.path)?);
                if let Some(alias) = &scope.alias {
                    inner.alias.push(alias.to_string());
                }
                walk(&scope.items, inner, pipelines, table)?;
            }
            Item::Route(route) => {
                let verb = route.verb.to_string();
                let verb = if verb == "any" { "*".to_owned() } else { verb.to_uppercase() };
                let parts = split_path(&route.path)?;
                let helper = route.alias.as_ref().map(|a| helper_name(&ctx, &a.to_string()));
                push_route(
                    table,
                    &ctx,
                    &verb,
                    &parts,
                    Target::Handler(route.handler.clone()),
                    tokens_display(&route.handler),
                    helper,
                    route.path.span(),
                )?;
            }
            Item::Forward(fwd) => {
                let mut parts = split_path(&fwd.path)?;
                if parts.iter().any(|p| p.starts_with(':') || p.starts_with('*')) {
                    return Err(syn::Error::new(fwd.path.span(), "a `forward` prefix cannot have parameters"));
                }
                parts.push("*__forwarded".into());
                table.forwards.push(fwd.target.clone());
                let index = table.forwards.len() - 1;
                push_route(table, &ctx, "*", &parts, Target::Forward(index), tokens_display(&fwd.target), None, fwd.path.span())?;
                // Show the prefix, not the internal wildcard, in the route table.
                let last = table.routes.last_mut().expect("just pushed");
                last.path = display_path(&last.segments[..last.segments.len() - 1]);
            }
            Item::Resources(res) => expand_resources(res, &ctx, table)?,
        }
    }
    Ok(())
}

const ACTIONS: &[&str] = &["index", "new", "create", "show", "edit", "update", "delete"];

fn singular(plural: &str) -> String {
    if let Some(stem) = plural.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = plural.strip_suffix('s') {
        stem.to_owned()
    } else {
        plural.to_owned()
    }
}

fn expand_resources(res: &super::parse::ResourcesDef, ctx: &Ctx, table: &mut Table) -> syn::Result<()> {
    let parts = split_path(&res.path)?;
    let Some(last) = parts.last() else {
        return Err(syn::Error::new(res.path.span(), "`resources` needs a path like \"/users\""));
    };
    let span = res.path.span();
    for list in [&res.only, &res.except].into_iter().flatten() {
        for action in list {
            if !ACTIONS.contains(&action.to_string().as_str()) {
                return Err(syn::Error::new(
                    action.span(),
                    format!("unknown action `{action}`; resources have {}", ACTIONS.join(", ")),
                ));
            }
        }
    }
    let wanted = |action: &str| -> bool {
        if res.singleton && action == "index" {
            return false;
        }
        if let Some(only) = &res.only {
            return only.iter().any(|a| a == action);
        }
        if let Some(except) = &res.except {
            return !except.iter().any(|a| a == action);
        }
        true
    };
    let base = last.trim_start_matches([':', '*']).replace('-', "_");
    let (one, many) = match &res.alias {
        Some(alias) => (alias.to_string(), format!("{alias}s")),
        None if res.singleton => (base.clone(), base.clone()),
        None => (singular(&base), base.clone()),
    };
    let param = res.param.as_ref().map_or_else(|| "id".to_owned(), |p| p.value());
    let member: Vec<String> = if res.singleton {
        parts.clone()
    } else {
        let mut m = parts.clone();
        m.push(format!(":{param}"));
        m
    };
    let with = |base: &[String], extra: &str| -> Vec<String> {
        let mut v = base.to_vec();
        v.push(extra.to_owned());
        v
    };
    let module = &res.module;
    let collection_helper = if res.singleton { helper_name(ctx, &one) } else { helper_name(ctx, &many) };
    let member_helper = helper_name(ctx, &one);
    let new_helper = helper_name(ctx, &format!("new_{one}"));
    let edit_helper = helper_name(ctx, &format!("edit_{one}"));
    let plan: Vec<(&str, &str, Vec<String>, String)> = vec![
        ("index", "GET", parts.clone(), collection_helper.clone()),
        ("new", "GET", with(&parts, "new"), new_helper),
        ("create", "POST", parts.clone(), if res.singleton { member_helper.clone() } else { collection_helper }),
        ("show", "GET", member.clone(), member_helper.clone()),
        ("edit", "GET", with(&member, "edit"), edit_helper),
        ("update", "PATCH", member.clone(), member_helper.clone()),
        ("update", "PUT", member.clone(), member_helper.clone()),
        ("delete", "DELETE", member, member_helper),
    ];
    for (action, verb, path, helper) in plan {
        if !wanted(action) {
            continue;
        }
        let action_ident = Ident::new(action, res.span);
        let handler: Expr = syn::parse_quote_spanned!(res.span=> #module::#action_ident);
        let display = format!("{}::{action}", tokens_display(module));
        push_route(table, ctx, verb, &path, Target::Handler(handler), display, Some(helper), span)?;
    }
    Ok(())
}

fn shape(segs: &[Seg]) -> Vec<String> {
    segs.iter()
        .map(|s| match s {
            Seg::Static(s) => format!("={s}"),
            Seg::Param(_) => ":".into(),
            Seg::Wildcard(_) => "*".into(),
        })
        .collect()
}

fn check(table: &Table) -> syn::Result<()> {
    for (i, route) in table.routes.iter().enumerate() {
        let my_shape = shape(&route.segments);
        for earlier in &table.routes[..i] {
            if earlier.verb == route.verb && shape(&earlier.segments) == my_shape {
                let what = if earlier.path == route.path { "is defined twice" } else { "conflicts with an earlier route" };
                let mut err = syn::Error::new(
                    route.span,
                    format!(
                        "route `{} {}` {what}: `{} {}` already matches the same requests",
                        route.verb, route.path, earlier.verb, earlier.path
                    ),
                );
                err.combine(syn::Error::new(earlier.span, "the earlier route is here"));
                return Err(err);
            }
        }
        if let Some(helper) = &route.helper {
            if let Some(other) = table.routes[..i]
                .iter()
                .find(|r| r.helper.as_deref() == Some(helper.as_str()) && r.path != route.path)
            {
                let mut err = syn::Error::new(
                    route.span,
                    format!(
                        "route name `{helper}` is already used for `{}`; give this route another `as:` name",
                        other.path
                    ),
                );
                err.combine(syn::Error::new(other.span, "first used here"));
                return Err(err);
            }
        }
    }
    Ok(())
}
