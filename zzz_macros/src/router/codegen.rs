//! Code generation: the router struct, its matcher (a trie unrolled into nested
//! `match`es), dispatch, the route table and the path helpers.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{Ident, LitStr};

use super::flatten::{FlatRoute, Seg, Table, Target};
use super::parse::{DocResponse, Item, PlugKind, RouterInput};

#[derive(Default)]
struct Node {
    statics: Vec<(String, Node)>,
    param: Option<Box<Node>>,
    /// Routes ending exactly here.
    routes: Vec<usize>,
    /// Wildcard routes capturing the rest from here.
    wildcards: Vec<usize>,
}

impl Node {
    fn insert(&mut self, segs: &[Seg], route: usize) {
        match segs.split_first() {
            None => self.routes.push(route),
            Some((Seg::Wildcard(_), _)) => self.wildcards.push(route),
            Some((Seg::Param(_), rest)) => self.param.get_or_insert_with(Default::default).insert(rest, route),
            Some((Seg::Static(s), rest)) => {
                if let Some((_, child)) = self.statics.iter_mut().find(|(k, _)| k == s) {
                    child.insert(rest, route);
                } else {
                    let mut child = Node::default();
                    child.insert(rest, route);
                    self.statics.push((s.clone(), child));
                }
            }
        }
    }
}

const METHOD_ORDER: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Code that returns `Ok(route)` for the request's method among `routes`, or notes
/// the `Allow` value of this path for a 405.
fn gen_terminal(routes: &[usize], table: &Table) -> TokenStream {
    if routes.is_empty() {
        return quote! {};
    }
    let mut checks = Vec::new();
    let mut any = None;
    let mut verbs: Vec<&str> = Vec::new();
    for &i in routes {
        let verb = table.routes[i].verb.as_str();
        if verb == "*" {
            any = Some(i);
            continue;
        }
        verbs.push(verb);
        let method = Ident::new(verb, Span::call_site());
        checks.push(quote! {
            if *method == ::zzz::__private::Method::#method { return ::core::result::Result::Ok(#i); }
        });
    }
    let has = |v: &str| verbs.contains(&v);
    if has("GET") && !has("HEAD") {
        let get = routes.iter().copied().find(|&i| table.routes[i].verb == "GET").expect("has GET");
        checks.push(quote! {
            if *method == ::zzz::__private::Method::HEAD { return ::core::result::Result::Ok(#get); }
        });
    }
    if let Some(i) = any {
        checks.push(quote! { return ::core::result::Result::Ok(#i); });
    } else {
        let mut allow: Vec<&str> = METHOD_ORDER
            .iter()
            .copied()
            .filter(|m| has(m) || (*m == "HEAD" && has("GET")) || *m == "OPTIONS")
            .collect();
        allow.dedup();
        let allow = allow.join(", ");
        checks.push(quote! {
            if allowed.is_none() { allowed = ::core::option::Option::Some(#allow); }
        });
    }
    quote! { #(#checks)* }
}

fn gen_node(node: &Node, depth: usize, table: &Table) -> TokenStream {
    let terminal = gen_terminal(&node.routes, table);
    let statics: Vec<TokenStream> = node
        .statics
        .iter()
        .map(|(lit, child)| {
            let code = gen_node(child, depth, table);
            // A byte-slice pattern: rustc turns a `match` over these into a decision
            // tree on the length and then on single bytes, instead of one string
            // comparison per arm.
            let bytes = lit.bytes().map(proc_macro2::Literal::byte_character);
            quote! { [#(#bytes),*] => { let pos = __e; #code } }
        })
        .collect();
    let static_match = if statics.is_empty() {
        quote! {}
    } else {
        quote! {
            match &path.as_bytes()[__s..__e] {
                #(#statics)*
                _ => {}
            }
        }
    };
    let param = node.param.as_ref().map(|child| {
        let code = gen_node(child, depth + 1, table);
        quote! {
            {
                params[#depth] = (__s as u32, __e as u32);
                let pos = __e;
                #code
            }
        }
    });
    let wildcard = if node.wildcards.is_empty() {
        quote! {}
    } else {
        let code = gen_terminal(&node.wildcards, table);
        quote! {
            {
                let __r = ::zzz::__private::rest_start(path, pos);
                params[#depth] = (__r as u32, path.len() as u32);
                #code
            }
        }
    };
    let descend = if statics.is_empty() && param.is_none() {
        quote! { ::core::option::Option::Some(_) => {} }
    } else {
        quote! {
            ::core::option::Option::Some((__s, __e)) => {
                #static_match
                #param
            }
        }
    };
    quote! {
        match ::zzz::__private::next_segment(path, pos) {
            ::core::option::Option::None => { #terminal }
            #descend
        }
        #wildcard
    }
}

fn max_params(table: &Table) -> usize {
    table.routes.iter().map(|r| r.param_names().len()).max().unwrap_or(0)
}

fn combo_field(i: usize) -> Ident {
    format_ident!("__pipe_{}", i)
}

fn forward_field(i: usize) -> Ident {
    format_ident!("__forward_{}", i)
}

fn collect_pipeline_defs<'a>(items: &'a [Item], out: &mut Vec<&'a super::parse::PipelineDef>) {
    for item in items {
        match item {
            Item::Pipeline(def) => out.push(def),
            Item::Scope(scope) => collect_pipeline_defs(&scope.items, out),
            _ => {}
        }
    }
}

fn gen_dispatch_arm(i: usize, route: &FlatRoute) -> TokenStream {
    let names: Vec<LitStr> = route.param_names().iter().map(|n| LitStr::new(n, Span::call_site())).collect();
    let count = names.len();
    match &route.target {
        Target::Handler(handler) => {
            let set = if count == 0 {
                quote! {}
            } else {
                quote! { ::zzz::__private::set_params(&mut conn, &[#(#names),*], &params[..#count]); }
            };
            let call = match route.combo {
                Some(c) => {
                    let field = combo_field(c);
                    quote! { ::zzz::__private::dispatch(&self.#field, conn, #handler).await }
                }
                None => quote! { ::zzz::__private::call_handler(#handler, conn).await },
            };
            quote! { #i => { #set #call } }
        }
        Target::Forward(f) => {
            let field = forward_field(*f);
            let pipeline = match route.combo {
                Some(c) => {
                    let field = combo_field(c);
                    quote! { &self.#field }
                }
                None => quote! { &::zzz::Pipeline::new() },
            };
            let idx = count - 1;
            quote! {
                #i => {
                    let consumed = params[#idx].0 as usize;
                    ::zzz::__private::forward(&self.#field, #pipeline, conn, consumed).await
                }
            }
        }
    }
}

fn gen_helpers(table: &Table) -> Vec<TokenStream> {
    let mut done: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for route in &table.routes {
        let Some(helper) = &route.helper else { continue };
        if done.contains(&helper.as_str()) {
            continue;
        }
        done.push(helper);
        let verbs: Vec<&str> = table
            .routes
            .iter()
            .filter(|r| r.helper.as_deref() == Some(helper))
            .map(|r| r.verb.as_str())
            .collect();
        let doc = format!("The path of `{} {}`, with parameters percent-encoded.", verbs.join("|"), route.path);
        let name = Ident::new(helper, route.span);
        let mut args = Vec::new();
        let mut pushes = Vec::new();
        for seg in &route.segments {
            match seg {
                Seg::Static(s) => {
                    let text = format!("/{s}");
                    pushes.push(quote! { out.push_str(#text); });
                }
                Seg::Param(n) => {
                    let arg = safe_ident(n);
                    args.push(quote! { #arg: impl ::core::fmt::Display });
                    pushes.push(quote! { out.push('/'); ::zzz::__private::encode_segment(&mut out, &#arg); });
                }
                Seg::Wildcard(n) => {
                    let arg = safe_ident(n);
                    args.push(quote! { #arg: impl ::core::fmt::Display });
                    pushes.push(quote! { out.push('/'); ::zzz::__private::encode_wildcard(&mut out, &#arg); });
                }
            }
        }
        let empty_root = route.segments.is_empty();
        let finish = if empty_root { quote! { out.push('/'); } } else { quote! {} };
        out.push(quote! {
            #[doc = #doc]
            pub fn #name(#(#args),*) -> ::std::string::String {
                let mut out = ::std::string::String::new();
                #(#pushes)*
                #finish
                out
            }
        });
    }
    out
}

/// `impl DocumentedRouter`: the OpenAPI document built from every documented route.
fn gen_openapi(name: &Ident, table: &Table) -> TokenStream {
    let Some(info) = &table.openapi else { return quote! {} };
    let config = &info.config;
    let spec_path = &info.spec_path;
    let docs_path = match &info.docs_path {
        Some(p) => quote! { ::core::option::Option::Some(#p) },
        None => quote! { ::core::option::Option::None },
    };
    // Operation ids must be unique in a document: the handler's name, then with the verb.
    let mut used: Vec<String> = Vec::new();
    let mut ops = Vec::new();
    for route in &table.routes {
        let Target::Handler(handler) = &route.target else { continue };
        let doc = route.doc.clone().unwrap_or_default();
        if route.internal || doc.hidden || route.verb == "*" {
            continue;
        }
        let base = route.handler_display.replace("::", "_").replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "");
        let mut id = if base.is_empty() { format!("{}_{}", route.verb.to_lowercase(), route.path) } else { base };
        if used.contains(&id) {
            id = format!("{id}_{}", route.verb.to_lowercase());
        }
        used.push(id.clone());
        let names: Vec<LitStr> = route.param_names().iter().map(|n| LitStr::new(n, Span::call_site())).collect();
        let verb = &route.verb;
        let path = &route.path;
        let mut sets = Vec::new();
        let op_id = doc.operation_id.as_ref().map_or_else(|| quote! { #id }, |lit| quote! { #lit });
        sets.push(quote! { op.operation_id(#op_id); });
        if let Some(s) = &doc.summary {
            sets.push(quote! { op.summary(#s); });
        }
        if let Some(d) = &doc.description {
            sets.push(quote! { op.description(#d); });
        }
        for t in &doc.tags {
            sets.push(quote! { op.tag(#t); });
        }
        for s in &doc.security {
            sets.push(quote! { op.security(#s); });
        }
        if doc.deprecated {
            sets.push(quote! { op.deprecated(); });
        }
        for (status, response) in &doc.responses {
            let code = status.base10_digits().to_owned();
            match response {
                DocResponse::Description(text) => sets.push(quote! { op.add_response(#code, #text, ::core::option::Option::None); }),
                DocResponse::Json(ty) => sets.push(quote! {
                    {
                        let schema = op.schema_ref::<#ty>();
                        let reason = ::zzz::StatusCode::from_u16(#status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Response");
                        op.add_response(#code, reason, ::core::option::Option::Some(("application/json", schema)));
                    }
                }),
            }
        }
        ops.push(quote! {
            {
                let mut op = ::zzz::openapi::OperationDoc::new(&[#(#names),*]);
                ::zzz::openapi::document_handler(&(#handler), &mut op);
                #(#sets)*
                builder.add(#verb, #path, op);
            }
        });
    }
    quote! {
        impl ::zzz::openapi::DocumentedRouter for #name {
            fn api_config() -> &'static ::zzz::openapi::ApiConfig {
                static CONFIG: ::std::sync::OnceLock<::zzz::openapi::ApiConfig> = ::std::sync::OnceLock::new();
                CONFIG.get_or_init(|| #config)
            }

            fn openapi() -> &'static ::zzz::openapi::utoipa::openapi::OpenApi {
                static SPEC: ::std::sync::OnceLock<::zzz::openapi::utoipa::openapi::OpenApi> = ::std::sync::OnceLock::new();
                SPEC.get_or_init(|| {
                    let mut builder = ::zzz::openapi::SpecBuilder::new(<Self as ::zzz::openapi::DocumentedRouter>::api_config());
                    #(#ops)*
                    builder.build()
                })
            }

            fn openapi_json() -> &'static ::zzz::Bytes {
                static JSON: ::std::sync::OnceLock<::zzz::Bytes> = ::std::sync::OnceLock::new();
                JSON.get_or_init(|| ::zzz::openapi::to_json(<Self as ::zzz::openapi::DocumentedRouter>::openapi()))
            }

            fn spec_path() -> &'static str {
                #spec_path
            }

            fn docs_path() -> ::core::option::Option<&'static str> {
                #docs_path
            }
        }
    }
}

fn safe_ident(name: &str) -> Ident {
    syn::parse_str::<Ident>(name).unwrap_or_else(|_| Ident::new_raw(name, Span::call_site()))
}

pub fn generate(input: &RouterInput, table: &Table) -> TokenStream {
    let RouterInput { attrs, vis, name, items } = input;

    let mut root = Node::default();
    for (i, route) in table.routes.iter().enumerate() {
        root.insert(&route.segments, i);
    }
    let matcher = gen_node(&root, 0, table);
    let n_params = max_params(table).max(1);

    let mut defs = Vec::new();
    collect_pipeline_defs(items, &mut defs);
    let pipeline_lets: Vec<TokenStream> = defs
        .iter()
        .map(|def| {
            let pname = &def.name;
            let steps = def.steps.iter().map(|(kind, expr)| match kind {
                PlugKind::Plug => quote! { .plug(#expr) },
                PlugKind::Layer => quote! { .layer(#expr) },
            });
            quote! { let #pname = ::zzz::Pipeline::new() #(#steps)*; }
        })
        .collect();

    let combo_fields: Vec<Ident> = (0..table.combos.len()).map(combo_field).collect();
    let combo_inits: Vec<TokenStream> = table
        .combos
        .iter()
        .map(|names| {
            let first = &names[0];
            let rest = &names[1..];
            quote! { #first.clone() #(.then(&#rest))* }
        })
        .collect();
    let forward_fields: Vec<Ident> = (0..table.forwards.len()).map(forward_field).collect();
    let forward_types = &table.forwards;

    let arms: Vec<TokenStream> = table.routes.iter().enumerate().map(|(i, r)| gen_dispatch_arm(i, r)).collect();
    let helpers = gen_helpers(table);
    let openapi = gen_openapi(name, table);

    let infos: Vec<TokenStream> = table
        .routes
        .iter()
        .map(|r| {
            let verb = r.table_verb.as_ref().unwrap_or(&r.verb);
            let path = &r.path;
            let handler = &r.handler_display;
            let helper = match &r.helper {
                Some(h) => quote! { ::core::option::Option::Some(#h) },
                None => quote! { ::core::option::Option::None },
            };
            let pipes = &r.pipe_names;
            quote! {
                ::zzz::RouteInfo { verb: #verb, path: #path, helper: #helper, handler: #handler, pipelines: &[#(#pipes),*] }
            }
        })
        .collect();

    quote! {
        #(#attrs)*
        #[derive(Clone)]
        #vis struct #name {
            #( #combo_fields: ::zzz::Pipeline, )*
            #( #forward_fields: ::std::sync::Arc<#forward_types>, )*
        }

        impl #name {
            /// Builds the router and the plugs of its pipelines.
            #[allow(unused_variables)]
            pub fn new() -> Self {
                #(#pipeline_lets)*
                Self {
                    #( #combo_fields: #combo_inits, )*
                    #( #forward_fields: ::std::sync::Arc::new(<#forward_types as ::core::default::Default>::default()), )*
                }
            }

            /// The route table, in declaration order.
            pub fn route_table() -> &'static [::zzz::RouteInfo] {
                &[#(#infos),*]
            }

            #(#helpers)*

            #[allow(unused_variables, unused_mut, unreachable_code, clippy::all)]
            #[doc(hidden)]
            #[inline]
            pub fn __match(
                method: &::zzz::__private::Method,
                path: &str,
                params: &mut [(u32, u32); #n_params],
            ) -> ::core::result::Result<usize, ::core::option::Option<&'static str>> {
                let mut allowed: ::core::option::Option<&'static str> = ::core::option::Option::None;
                let pos = 0usize;
                #matcher
                ::core::result::Result::Err(allowed)
            }
        }

        impl ::core::default::Default for #name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ::zzz::Router for #name {
            #[allow(unused_mut)]
            async fn call(&self, mut conn: ::zzz::Conn) -> ::zzz::Response {
                let mut params = [(0u32, 0u32); #n_params];
                let matched = Self::__match(conn.method(), conn.routing_path(), &mut params);
                match matched {
                    ::core::result::Result::Ok(route) => match route {
                        #(#arms)*
                        _ => ::core::unreachable!("the matcher returns only known route indexes"),
                    },
                    ::core::result::Result::Err(::core::option::Option::Some(allow)) => {
                        ::zzz::__private::method_not_allowed(conn, allow)
                    }
                    ::core::result::Result::Err(::core::option::Option::None) => ::zzz::__private::not_found(conn),
                }
            }

            fn routes(&self) -> &'static [::zzz::RouteInfo] {
                Self::route_table()
            }
        }

        #openapi
    }
}
