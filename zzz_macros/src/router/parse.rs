//! The route DSL's syntax tree and parser.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Ident, LitStr, Token, Type, Visibility, braced, bracketed};

pub struct RouterInput {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub items: Vec<Item>,
}

pub enum Item {
    Pipeline(PipelineDef),
    Scope(ScopeDef),
    PipeThrough(Vec<Ident>),
    Route(RouteDef),
    Resources(ResourcesDef),
    Forward(ForwardDef),
    OpenApi(OpenApiDef),
    Socket(SocketDef),
}

/// `socket "/socket" => UserSocketType [, websocket: false] [, longpoll: false];`
pub struct SocketDef {
    pub path: LitStr,
    pub target: Type,
    pub websocket: bool,
    pub longpoll: bool,
}

/// `openapi ["/api/openapi.json"] [, docs: "/api/docs"] => CONFIG_EXPR;`
pub struct OpenApiDef {
    pub spec_path: Option<LitStr>,
    pub docs_path: Option<LitStr>,
    pub config: Expr,
    pub span: Span,
}

/// `doc(summary = "..", description = "..", tags = [..], operation_id = "..",
/// deprecated, hidden, security = [..], responses(404 = "..", 409 = Type))`
#[derive(Clone, Default)]
pub struct RouteDoc {
    pub summary: Option<LitStr>,
    pub description: Option<LitStr>,
    pub tags: Vec<LitStr>,
    pub operation_id: Option<LitStr>,
    pub deprecated: bool,
    pub hidden: bool,
    pub security: Vec<LitStr>,
    pub responses: Vec<(syn::LitInt, DocResponse)>,
}

#[derive(Clone)]
pub enum DocResponse {
    Description(LitStr),
    Json(Box<Type>),
}

pub struct PipelineDef {
    pub name: Ident,
    pub steps: Vec<(PlugKind, Expr)>,
}

#[derive(Clone, Copy)]
pub enum PlugKind {
    Plug,
    Layer,
}

pub struct ScopeDef {
    pub path: LitStr,
    pub alias: Option<Ident>,
    pub items: Vec<Item>,
}

pub struct RouteDef {
    pub verb: Ident,
    pub path: LitStr,
    pub handler: Expr,
    pub alias: Option<Ident>,
    pub doc: Option<RouteDoc>,
}

pub struct ResourcesDef {
    pub path: LitStr,
    pub module: syn::Path,
    pub only: Option<Vec<Ident>>,
    pub except: Option<Vec<Ident>>,
    pub alias: Option<Ident>,
    pub param: Option<LitStr>,
    pub singleton: bool,
    pub doc: Option<RouteDoc>,
    pub span: Span,
}

pub struct ForwardDef {
    pub path: LitStr,
    pub target: Type,
}

pub const VERBS: &[&str] = &["get", "post", "put", "patch", "delete", "options", "head", "any"];

impl Parse for RouterInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if input.peek(Token![struct]) {
            input.parse::<Token![struct]>()?;
        }
        let name: Ident = input.parse().map_err(|e| {
            syn::Error::new(e.span(), "expected the router's name first, like `pub AppRouter;`")
        })?;
        input.parse::<Token![;]>()?;
        let items = parse_items(input)?;
        Ok(RouterInput { attrs, vis, name, items })
    }
}

fn parse_items(input: ParseStream) -> syn::Result<Vec<Item>> {
    let mut items = Vec::new();
    while !input.is_empty() {
        items.push(parse_item(input)?);
    }
    Ok(items)
}

fn parse_alias(input: ParseStream) -> syn::Result<Option<Ident>> {
    if input.peek(Token![,]) && input.peek2(Token![as]) {
        input.parse::<Token![,]>()?;
        input.parse::<Token![as]>()?;
        input.parse::<Token![:]>()?;
        return Ok(Some(input.parse()?));
    }
    Ok(None)
}

fn parse_ident_list(input: ParseStream) -> syn::Result<Vec<Ident>> {
    let content;
    bracketed!(content in input);
    let list: Punctuated<Ident, Token![,]> = content.parse_terminated(Ident::parse, Token![,])?;
    Ok(list.into_iter().collect())
}

fn parse_item(input: ParseStream) -> syn::Result<Item> {
    let keyword: Ident = input.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            "expected a route (`get \"/path\" => handler;`), `scope`, `pipeline`, `pipe_through`, `resources`, `forward`, `socket` or `openapi`",
        )
    })?;
    let kw = keyword.to_string();
    match kw.as_str() {
        "pipeline" => {
            let name: Ident = input.parse()?;
            let content;
            braced!(content in input);
            let mut steps = Vec::new();
            while !content.is_empty() {
                let kind: Ident = content.parse()?;
                let kind = match kind.to_string().as_str() {
                    "plug" => PlugKind::Plug,
                    "layer" => PlugKind::Layer,
                    other => {
                        return Err(syn::Error::new(
                            kind.span(),
                            format!("expected `plug EXPR;` or `layer EXPR;` in a pipeline, found `{other}`"),
                        ));
                    }
                };
                let expr: Expr = content.parse()?;
                content.parse::<Token![;]>()?;
                steps.push((kind, expr));
            }
            Ok(Item::Pipeline(PipelineDef { name, steps }))
        }
        "scope" => {
            let path: LitStr = input.parse()?;
            let alias = parse_alias(input)?;
            let content;
            braced!(content in input);
            let items = parse_items(&content)?;
            Ok(Item::Scope(ScopeDef { path, alias, items }))
        }
        "pipe_through" => {
            let names = parse_ident_list(input)?;
            input.parse::<Token![;]>()?;
            Ok(Item::PipeThrough(names))
        }
        "resources" => {
            let path: LitStr = input.parse()?;
            input.parse::<Token![=>]>()?;
            let module: syn::Path = input.parse()?;
            let mut def = ResourcesDef {
                path,
                module,
                only: None,
                except: None,
                alias: None,
                param: None,
                singleton: false,
                doc: None,
                span: keyword.span(),
            };
            while input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
                if input.peek(Token![as]) {
                    input.parse::<Token![as]>()?;
                    input.parse::<Token![:]>()?;
                    def.alias = Some(input.parse()?);
                    continue;
                }
                let opt: Ident = input.parse()?;
                match opt.to_string().as_str() {
                    "only" => {
                        input.parse::<Token![:]>()?;
                        def.only = Some(parse_ident_list(input)?);
                    }
                    "except" => {
                        input.parse::<Token![:]>()?;
                        def.except = Some(parse_ident_list(input)?);
                    }
                    "param" => {
                        input.parse::<Token![:]>()?;
                        def.param = Some(input.parse()?);
                    }
                    "singleton" => def.singleton = true,
                    "doc" => def.doc = Some(parse_doc(input)?),
                    other => {
                        return Err(syn::Error::new(
                            opt.span(),
                            format!("unknown `resources` option `{other}`; expected `only: [..]`, `except: [..]`, `as: name`, `param: \"..\"`, `singleton` or `doc(...)`"),
                        ));
                    }
                }
            }
            input.parse::<Token![;]>()?;
            Ok(Item::Resources(def))
        }
        "socket" => {
            let path: LitStr = input.parse()?;
            input.parse::<Token![=>]>()?;
            let target: Type = input.parse()?;
            let mut def = SocketDef { path, target, websocket: true, longpoll: true };
            while input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
                let opt: Ident = input.parse()?;
                input.parse::<Token![:]>()?;
                let on: syn::LitBool = input.parse()?;
                match opt.to_string().as_str() {
                    "websocket" => def.websocket = on.value,
                    "longpoll" => def.longpoll = on.value,
                    other => {
                        return Err(syn::Error::new(
                            opt.span(),
                            format!("unknown `socket` option `{other}`; expected `websocket: bool` or `longpoll: bool`"),
                        ));
                    }
                }
            }
            input.parse::<Token![;]>()?;
            Ok(Item::Socket(def))
        }
        "forward" => {
            let path: LitStr = input.parse()?;
            input.parse::<Token![=>]>()?;
            let target: Type = input.parse()?;
            input.parse::<Token![;]>()?;
            Ok(Item::Forward(ForwardDef { path, target }))
        }
        verb if VERBS.contains(&verb) => {
            let path: LitStr = input.parse()?;
            input.parse::<Token![=>]>()?;
            let handler: Expr = input.parse()?;
            let mut alias = None;
            let mut doc = None;
            while input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
                if input.peek(Token![as]) {
                    input.parse::<Token![as]>()?;
                    input.parse::<Token![:]>()?;
                    alias = Some(input.parse()?);
                    continue;
                }
                let opt: Ident = input.parse()?;
                if opt == "doc" {
                    doc = Some(parse_doc(input)?);
                } else {
                    return Err(syn::Error::new(
                        opt.span(),
                        format!("unknown route option `{opt}`; expected `as: name` or `doc(...)`"),
                    ));
                }
            }
            input.parse::<Token![;]>()?;
            Ok(Item::Route(RouteDef { verb: keyword, path, handler, alias, doc }))
        }
        "openapi" => {
            let spec_path = if input.peek(LitStr) { Some(input.parse()?) } else { None };
            let mut docs_path = None;
            while input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
                let opt: Ident = input.parse()?;
                if opt != "docs" {
                    return Err(syn::Error::new(opt.span(), format!("unknown `openapi` option `{opt}`; expected `docs: \"/path\"`")));
                }
                input.parse::<Token![:]>()?;
                docs_path = Some(input.parse()?);
            }
            input.parse::<Token![=>]>().map_err(|e| {
                syn::Error::new(e.span(), "expected `=> CONFIG` after `openapi`, like `openapi => zzz::openapi::ApiConfig::new(\"My API\", \"1.0.0\");`")
            })?;
            let config: Expr = input.parse()?;
            input.parse::<Token![;]>()?;
            Ok(Item::OpenApi(OpenApiDef { spec_path, docs_path, config, span: keyword.span() }))
        }
        other => Err(syn::Error::new(
            keyword.span(),
            format!(
                "unknown router item `{other}`; expected a verb ({}), `scope`, `pipeline`, `pipe_through`, `resources`, `forward`, `socket` or `openapi`",
                VERBS.join(", ")
            ),
        )),
    }
}

fn parse_lit_list(input: ParseStream) -> syn::Result<Vec<LitStr>> {
    let content;
    bracketed!(content in input);
    let list: Punctuated<LitStr, Token![,]> = content.parse_terminated(|i: ParseStream| i.parse::<LitStr>(), Token![,])?;
    Ok(list.into_iter().collect())
}

fn parse_doc(input: ParseStream) -> syn::Result<RouteDoc> {
    let content;
    syn::parenthesized!(content in input);
    let mut doc = RouteDoc::default();
    while !content.is_empty() {
        let key: Ident = content.parse()?;
        match key.to_string().as_str() {
            "summary" | "description" | "operation_id" => {
                content.parse::<Token![=]>()?;
                let value: LitStr = content.parse()?;
                match key.to_string().as_str() {
                    "summary" => doc.summary = Some(value),
                    "description" => doc.description = Some(value),
                    _ => doc.operation_id = Some(value),
                }
            }
            "tags" | "security" => {
                content.parse::<Token![=]>()?;
                let list = parse_lit_list(&content)?;
                if key == "tags" { doc.tags = list } else { doc.security = list }
            }
            "deprecated" => doc.deprecated = true,
            "hidden" => doc.hidden = true,
            "responses" => {
                let inner;
                syn::parenthesized!(inner in content);
                while !inner.is_empty() {
                    let status: syn::LitInt = inner.parse()?;
                    let code: u16 = status.base10_parse()?;
                    if !(100..=599).contains(&code) {
                        return Err(syn::Error::new(status.span(), "a response status is a number from 100 to 599"));
                    }
                    inner.parse::<Token![=]>()?;
                    let response = if inner.peek(LitStr) {
                        DocResponse::Description(inner.parse()?)
                    } else {
                        DocResponse::Json(Box::new(inner.parse()?))
                    };
                    doc.responses.push((status, response));
                    if !inner.is_empty() {
                        inner.parse::<Token![,]>()?;
                    }
                }
            }
            other => {
                return Err(syn::Error::new(
                    key.span(),
                    format!("unknown `doc` key `{other}`; expected summary, description, tags, operation_id, deprecated, hidden, security or responses"),
                ));
            }
        }
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    Ok(doc)
}
