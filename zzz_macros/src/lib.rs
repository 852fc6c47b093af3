//! Procedural macros for zzz. Use them through the `zzz` and `zzz_db` crates, which
//! re-export them; the generated code refers to those crates by name.

use proc_macro::TokenStream;

mod router;
mod schema;

/// Compiles a route list into a router type. Documented in `zzz::router`.
#[proc_macro]
pub fn router(input: TokenStream) -> TokenStream {
    router::expand(input.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Derive `zzz_db::Schema` for a struct: table name, primary key, typed column handles
/// (`User::name`), associations (`belongs_to`, `has_many`, `has_one`, `many_to_many`), virtual fields and
/// automatic `inserted_at`/`updated_at`. See the `zzz_db` crate docs.
#[proc_macro_derive(Schema, attributes(schema))]
pub fn derive_schema(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    schema::derive(input).unwrap_or_else(syn::Error::into_compile_error).into()
}
