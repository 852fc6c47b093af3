//! Procedural macros for zzz. Use them through the `zzz` and `zzz_db` crates, which
//! re-export them; the generated code refers to those crates by name.

use proc_macro::TokenStream;

mod router;

/// Compiles a route list into a router type. Documented in `zzz::router`.
#[proc_macro]
pub fn router(input: TokenStream) -> TokenStream {
    router::expand(input.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}
