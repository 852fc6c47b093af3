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
}

pub struct ResourcesDef {
    pub path: LitStr,
    pub module: syn::Path,
    pub only: Option<Vec<Ident>>,
    pub except: Option<Vec<Ident>>,
    pub alias: Option<Ident>,
    pub param: Option<LitStr>,
    pub singleton: bool,
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
            "expected a route (`get \"/path\" => handler;`), `scope`, `pipeline`, `pipe_through`, `resources` or `forward`",
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
                    other => {
                        return Err(syn::Error::new(
                            opt.span(),
                            format!("unknown `resources` option `{other}`; expected `only: [..]`, `except: [..]`, `as: name`, `param: \"..\"` or `singleton`"),
                        ));
                    }
                }
            }
            input.parse::<Token![;]>()?;
            Ok(Item::Resources(def))
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
            let alias = parse_alias(input)?;
            input.parse::<Token![;]>()?;
            Ok(Item::Route(RouteDef { verb: keyword, path, handler, alias }))
        }
        other => Err(syn::Error::new(
            keyword.span(),
            format!(
                "unknown router item `{other}`; expected a verb ({}), `scope`, `pipeline`, `pipe_through`, `resources` or `forward`",
                VERBS.join(", ")
            ),
        )),
    }
}
