//! `router!`: parse the route DSL, check it, and generate matching code.
//!
//! - [`parse`] turns the tokens into a syntax tree of items (pipelines, scopes, routes…).
//! - [`flatten`] walks scopes into a flat list of routes with full paths, pipelines
//!   and helper names, and reports duplicates and conflicts with spans.
//! - [`codegen`] builds a trie of the paths and unrolls it into nested `match`es.

mod codegen;
mod flatten;
mod parse;

use proc_macro2::TokenStream;

pub fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let ast: parse::RouterInput = syn::parse2(input)?;
    let table = flatten::flatten(&ast)?;
    Ok(codegen::generate(&ast, &table))
}
