//! `#[derive(Schema)]` for zzz_db.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Type, spanned::Spanned};

enum Kind {
    Column,
    Virtual,
    Rel { kind: &'static str, related: Box<Type>, foreign_key: Option<String>, through: Option<Through> },
}

struct Through {
    table: String,
    owner_key: Option<String>,
    related_key: Option<String>,
}

struct FieldDef {
    ident: Ident,
    ty: Type,
    kind: Kind,
    primary_key: bool,
}

pub fn derive(input: DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(input.generics.span(), "#[derive(Schema)] does not support generic structs"));
    }
    let mut table: Option<String> = None;
    for attr in &input.attrs {
        if !attr.path().is_ident("schema") {
            continue;
        }
        attr.parse_nested_meta(|m| {
            if m.path.is_ident("table") {
                let s: LitStr = m.value()?.parse()?;
                table = Some(s.value());
                Ok(())
            } else {
                Err(m.error("unknown schema attribute; expected `table = \"...\"`"))
            }
        })?;
    }
    let table = table.unwrap_or_else(|| default_table(&name.to_string()));
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(n) => &n.named,
            _ => return Err(syn::Error::new(name.span(), "#[derive(Schema)] needs a struct with named fields")),
        },
        _ => return Err(syn::Error::new(name.span(), "#[derive(Schema)] only works on structs")),
    };

    let mut defs = Vec::new();
    for f in fields {
        let ident = f.ident.clone().expect("named");
        let mut primary_key = false;
        let mut is_virtual = false;
        let mut rel: Option<(&'static str, Type)> = None;
        let mut foreign_key = None;
        let mut join_through: Option<String> = None;
        let mut join_keys: (Option<String>, Option<String>) = (None, None);
        for attr in &f.attrs {
            if !attr.path().is_ident("schema") {
                continue;
            }
            attr.parse_nested_meta(|m| {
                if m.path.is_ident("primary_key") {
                    primary_key = true;
                } else if m.path.is_ident("virtual") {
                    is_virtual = true;
                } else if m.path.is_ident("belongs_to") {
                    rel = Some(("belongs_to", m.value()?.parse()?));
                } else if m.path.is_ident("has_many") {
                    rel = Some(("has_many", m.value()?.parse()?));
                } else if m.path.is_ident("has_one") {
                    rel = Some(("has_one", m.value()?.parse()?));
                } else if m.path.is_ident("many_to_many") {
                    rel = Some(("many_to_many", m.value()?.parse()?));
                } else if m.path.is_ident("join_through") {
                    let s: LitStr = m.value()?.parse()?;
                    join_through = Some(s.value());
                } else if m.path.is_ident("owner_key") {
                    let s: LitStr = m.value()?.parse()?;
                    join_keys.0 = Some(s.value());
                } else if m.path.is_ident("related_key") {
                    let s: LitStr = m.value()?.parse()?;
                    join_keys.1 = Some(s.value());
                } else if m.path.is_ident("foreign_key") {
                    let s: LitStr = m.value()?.parse()?;
                    foreign_key = Some(s.value());
                } else {
                    return Err(m.error(
                        "unknown field attribute; expected primary_key, virtual, belongs_to = T, has_many = T, has_one = T, many_to_many = T, foreign_key = \"col\", join_through = \"table\", owner_key = \"col\", related_key = \"col\"",
                    ));
                }
                Ok(())
            })?;
        }
        let kind = match rel {
            Some((kind, related)) => {
                let through = match (kind, join_through) {
                    ("many_to_many", Some(table)) => Some(Through { table, owner_key: join_keys.0, related_key: join_keys.1 }),
                    ("many_to_many", None) => {
                        return Err(syn::Error::new(ident.span(), "many_to_many needs join_through = \"join_table\""));
                    }
                    (_, Some(_)) => return Err(syn::Error::new(ident.span(), "join_through only applies to many_to_many")),
                    (_, None) => None,
                };
                Kind::Rel { kind, related: Box::new(related), foreign_key, through }
            }
            None if is_virtual => Kind::Virtual,
            None => {
                if foreign_key.is_some() {
                    return Err(syn::Error::new(ident.span(), "foreign_key only applies to belongs_to/has_many/has_one fields"));
                }
                Kind::Column
            }
        };
        defs.push(FieldDef { ident, ty: f.ty.clone(), kind, primary_key });
    }

    let pk_count = defs.iter().filter(|d| d.primary_key).count();
    if pk_count > 1 {
        return Err(syn::Error::new(name.span(), "only one field may be #[schema(primary_key)]"));
    }
    let pk = if pk_count == 1 {
        defs.iter().find(|d| d.primary_key).unwrap()
    } else {
        match defs.iter().find(|d| d.ident == "id" && matches!(d.kind, Kind::Column)) {
            Some(d) => d,
            None => {
                return Err(syn::Error::new(
                    Span::call_site(),
                    format!("schema `{name}` has no primary key: add an `id` field or mark one #[schema(primary_key)]"),
                ));
            }
        }
    };
    if !matches!(pk.kind, Kind::Column) {
        return Err(syn::Error::new(pk.ident.span(), "the primary key must be a stored column"));
    }
    let pk_ident = &pk.ident;
    let pk_ty = &pk.ty;
    let pk_name = pk.ident.to_string();

    let columns: Vec<&FieldDef> = defs.iter().filter(|d| matches!(d.kind, Kind::Column)).collect();
    let castable: Vec<&FieldDef> = defs.iter().filter(|d| !matches!(d.kind, Kind::Rel { .. })).collect();

    let col_names: Vec<String> = columns.iter().map(|d| d.ident.to_string()).collect();
    let field_names: Vec<String> = castable.iter().map(|d| d.ident.to_string()).collect();
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let column_list = col_names.iter().map(|c| format!("{}.{}", q(&table), q(c))).collect::<Vec<_>>().join(", ");
    let has = |n: &str| columns.iter().any(|d| d.ident == n);
    let ins = if has("inserted_at") { quote!(::core::option::Option::Some("inserted_at")) } else { quote!(::core::option::Option::None) };
    let upd = if has("updated_at") { quote!(::core::option::Option::Some("updated_at")) } else { quote!(::core::option::Option::None) };

    let mut decode_fields = Vec::new();
    let mut col_idx = 0usize;
    for d in &defs {
        let id = &d.ident;
        let ty = &d.ty;
        if matches!(d.kind, Kind::Column) {
            let i = col_idx;
            let qual = format!("{table}.{id}");
            decode_fields.push(quote!(#id: <#ty as ::zzz_db::FieldType>::decode(row, offset + #i).map_err(|e| e.with_column(#qual))?));
            col_idx += 1;
        } else {
            decode_fields.push(quote!(#id: ::core::default::Default::default()));
        }
    }

    let get_arms = castable.iter().map(|d| {
        let id = &d.ident;
        let s = id.to_string();
        quote!(#s => ::core::option::Option::Some(::zzz_db::FieldType::to_value(&self.#id)))
    });
    let put_arms = castable.iter().map(|d| {
        let id = &d.ident;
        let ty = &d.ty;
        let s = id.to_string();
        quote!(#s => { self.#id = <#ty as ::zzz_db::FieldType>::from_value(v)?; ::core::result::Result::Ok(true) })
    });
    let cast_arms = castable.iter().map(|d| {
        let ty = &d.ty;
        let s = d.ident.to_string();
        quote!(#s => ::core::option::Option::Some(<#ty as ::zzz_db::FieldType>::cast(param)))
    });
    let type_arms = castable.iter().map(|d| {
        let ty = &d.ty;
        let s = d.ident.to_string();
        quote!(#s => ::core::option::Option::Some(<#ty as ::zzz_db::FieldType>::TYPE_NAME))
    });

    let col_consts = columns.iter().map(|d| {
        let id = &d.ident;
        let ty = &d.ty;
        let s = id.to_string();
        let doc = format!("Column `{table}.{s}`.");
        quote!(
            #[doc = #doc]
            #[allow(non_upper_case_globals)]
            pub const #id: ::zzz_db::Column<#name, #ty> = ::zzz_db::Column::new(#table, #s);
        )
    });

    let owner_fk_default = format!("{}_id", snake(&name.to_string()));
    let mut rel_consts = Vec::new();
    for d in &defs {
        if let Kind::Rel { kind, related, foreign_key, through } = &d.kind {
            let id = &d.ident;
            let s = id.to_string();
            let doc = format!("Association `{s}` ({kind}).");
            let (kind_tok, owner_col, related_col, set, take) = match *kind {
                "belongs_to" => {
                    let fk = foreign_key.clone().unwrap_or_else(|| format!("{s}_id"));
                    if !col_names.contains(&fk) {
                        return Err(syn::Error::new(
                            id.span(),
                            format!("belongs_to `{s}` needs a column `{fk}` on `{name}` (or set foreign_key = \"...\")"),
                        ));
                    }
                    (
                        quote!(::zzz_db::RelationKind::BelongsTo),
                        quote!(#fk),
                        quote!(<#related as ::zzz_db::Schema>::PRIMARY_KEY),
                        quote!(|o: &mut #name, v: ::std::vec::Vec<#related>| { o.#id = ::zzz_db::Assoc::Loaded(v.into_iter().next()); }),
                        quote!(|o: &mut #name| -> ::core::option::Option<::std::vec::Vec<#related>> { match ::core::mem::take(&mut o.#id) { ::zzz_db::Assoc::Loaded(v) => ::core::option::Option::Some(v.into_iter().collect()), ::zzz_db::Assoc::NotLoaded => ::core::option::Option::None } }),
                    )
                }
                "has_one" => {
                    let fk = foreign_key.clone().unwrap_or_else(|| owner_fk_default.clone());
                    (
                        quote!(::zzz_db::RelationKind::HasOne),
                        quote!(#pk_name),
                        quote!(#fk),
                        quote!(|o: &mut #name, v: ::std::vec::Vec<#related>| { o.#id = ::zzz_db::Assoc::Loaded(v.into_iter().next()); }),
                        quote!(|o: &mut #name| -> ::core::option::Option<::std::vec::Vec<#related>> { match ::core::mem::take(&mut o.#id) { ::zzz_db::Assoc::Loaded(v) => ::core::option::Option::Some(v.into_iter().collect()), ::zzz_db::Assoc::NotLoaded => ::core::option::Option::None } }),
                    )
                }
                "many_to_many" => {
                    let t = through.as_ref().expect("checked above");
                    let table = &t.table;
                    let owner_key = t.owner_key.clone().unwrap_or_else(|| owner_fk_default.clone());
                    let related_key = match &t.related_key {
                        Some(k) => k.clone(),
                        None => match &**related {
                            Type::Path(p) => format!("{}_id", snake(&p.path.segments.last().expect("path").ident.to_string())),
                            _ => return Err(syn::Error::new(id.span(), "many_to_many needs related_key = \"col\" for this type")),
                        },
                    };
                    rel_consts.push(quote!(
                        #[doc = #doc]
                        #[allow(non_upper_case_globals)]
                        pub const #id: ::zzz_db::Relation<#name, #related> = ::zzz_db::Relation::many_to_many(
                            #s,
                            #pk_name,
                            <#related as ::zzz_db::Schema>::PRIMARY_KEY,
                            ::zzz_db::Through { table: #table, owner_key: #owner_key, related_key: #related_key },
                            |o: &mut #name, v: ::std::vec::Vec<#related>| { o.#id = ::zzz_db::Assoc::Loaded(v); },
                            |o: &mut #name| -> ::core::option::Option<::std::vec::Vec<#related>> { match ::core::mem::take(&mut o.#id) { ::zzz_db::Assoc::Loaded(v) => ::core::option::Option::Some(v), ::zzz_db::Assoc::NotLoaded => ::core::option::Option::None } },
                        );
                    ));
                    continue;
                }
                _ => {
                    let fk = foreign_key.clone().unwrap_or_else(|| owner_fk_default.clone());
                    (
                        quote!(::zzz_db::RelationKind::HasMany),
                        quote!(#pk_name),
                        quote!(#fk),
                        quote!(|o: &mut #name, v: ::std::vec::Vec<#related>| { o.#id = ::zzz_db::Assoc::Loaded(v); }),
                        quote!(|o: &mut #name| -> ::core::option::Option<::std::vec::Vec<#related>> { match ::core::mem::take(&mut o.#id) { ::zzz_db::Assoc::Loaded(v) => ::core::option::Option::Some(v), ::zzz_db::Assoc::NotLoaded => ::core::option::Option::None } }),
                    )
                }
            };
            rel_consts.push(quote!(
                #[doc = #doc]
                #[allow(non_upper_case_globals)]
                pub const #id: ::zzz_db::Relation<#name, #related> =
                    ::zzz_db::Relation::new(#s, #kind_tok, #owner_col, #related_col, #set, #take);
            ));
        }
    }

    Ok(quote! {
        impl ::zzz_db::Schema for #name {
            type Id = #pk_ty;
            const TABLE: &'static str = #table;
            const PRIMARY_KEY: &'static str = #pk_name;
            const COLUMNS: &'static [&'static str] = &[#(#col_names),*];
            const COLUMN_LIST: &'static str = #column_list;
            const FIELDS: &'static [&'static str] = &[#(#field_names),*];
            const INSERTED_AT: ::core::option::Option<&'static str> = #ins;
            const UPDATED_AT: ::core::option::Option<&'static str> = #upd;
            fn primary_key(&self) -> &Self::Id { &self.#pk_ident }
            fn from_row(row: &::zzz_db::Row, offset: usize) -> ::core::result::Result<Self, ::zzz_db::Error> {
                ::core::result::Result::Ok(Self { #(#decode_fields,)* })
            }
            fn get_value(&self, field: &str) -> ::core::option::Option<::zzz_db::Value> {
                match field { #(#get_arms,)* _ => ::core::option::Option::None }
            }
            fn put_value(&mut self, field: &str, v: ::zzz_db::Value) -> ::core::result::Result<bool, ::zzz_db::CastError> {
                match field { #(#put_arms)* _ => ::core::result::Result::Ok(false) }
            }
            fn cast_field(field: &str, param: &::zzz_db::serde_json::Value)
                -> ::core::option::Option<::core::result::Result<::zzz_db::Value, ::zzz_db::CastError>> {
                match field { #(#cast_arms,)* _ => ::core::option::Option::None }
            }
            fn field_type(field: &str) -> ::core::option::Option<&'static str> {
                match field { #(#type_arms,)* _ => ::core::option::Option::None }
            }
        }
        impl #name {
            #(#col_consts)*
            #(#rel_consts)*
        }
    })
}

fn snake(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn default_table(s: &str) -> String {
    format!("{}s", snake(s))
}
