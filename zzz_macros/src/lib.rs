//! Procedural macros for zzz. Use them through the `zzz` and `zzz_db` crates, which re-export them.

mod schema;

/// Derive `zzz_db::Schema` for a struct: table name, primary key, typed column handles
/// (`User::name`), associations (`belongs_to`, `has_many`, `has_one`, `many_to_many`), virtual fields and
/// automatic `inserted_at`/`updated_at`. See the `zzz_db` crate docs.
#[proc_macro_derive(Schema, attributes(schema))]
pub fn derive_schema(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    schema::derive(input).unwrap_or_else(syn::Error::into_compile_error).into()
}
