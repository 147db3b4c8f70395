//! `#[derive(Row)]`: a row type of a chainflow output declares its columns, key and
//! position once, in the struct.
//!
//! ```text
//! #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Row)]
//! #[row(position = time_bucket(hour, 3600))]
//! pub struct TokenHour {
//!     /// Chain id.
//!     #[row(key)]
//!     pub chain_id: u64,
//!     /// Start of the UTC hour.
//!     #[row(key, timestamp)]
//!     pub hour: u64,
//!     /// Transferred amount.
//!     pub volume: U256,
//! }
//! ```
//!
//! - Every field is a column, in field order; its first doc line (without a final period)
//!   is the column's doc.
//! - The column type comes from the field type: `u8`..`u64` → `U64` (`#[row(timestamp)]`:
//!   `Timestamp`, unix seconds), `u128` or `Wei` → `Wei`, `U256` → `U256`, `B256` (or
//!   `TxHash`, `BlockHash`) → `Hash`, `Address` → `Address`, `String` → `Text`. Any other
//!   type is a compile error naming the field.
//! - `#[row(key)]` fields form the key, in field order (at least one).
//! - `#[row(position = ...)]` on the struct: `block(column)`, `time_bucket(column, seconds)`,
//!   `whole` or `log` (see `chainflow::engine::dataflow::Position`).
//!
//! The generated code names `::chainflow`, so the crate using it depends on `chainflow`
//! (chainflow itself declares `extern crate self as chainflow`).

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::quote;
use syn::{Data, DeriveInput, Error, Expr, Fields, Lit, Meta, Type, parse_macro_input};

/// Derives `chainflow::engine::dataflow::Row`: see the crate documentation.
#[proc_macro_derive(Row, attributes(row))]
pub fn derive_row(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The column types, as `ColumnType` variants.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    U64,
    Timestamp,
    Wei,
    U256,
    Hash,
    Address,
    Text,
}

/// One field's column.
struct ColumnDef {
    ident: syn::Ident,
    name: String,
    kind: Kind,
    doc: String,
    key: bool,
    /// Whether the field's type is narrower than u64 (`u64::from` converts it).
    narrow: bool,
}

fn expand(input: &DeriveInput) -> Result<Tokens, Error> {
    let Data::Struct(data) = &input.data else {
        return Err(Error::new_spanned(
            &input.ident,
            "#[derive(Row)] works on structs with named fields",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(Error::new_spanned(
            &input.ident,
            "#[derive(Row)] works on structs with named fields",
        ));
    };
    let position = position(input)?;
    let mut columns = Vec::new();
    for field in &fields.named {
        let Some(ident) = field.ident.clone() else {
            continue;
        };
        let (key, timestamp) = field_flags(field)?;
        let (kind, narrow) = kind_of(&field.ty, timestamp).ok_or_else(|| {
            Error::new_spanned(
                &field.ty,
                format!(
                    "column '{ident}': #[derive(Row)] knows u8..u64, u128/Wei, U256, B256, Address and String"
                ),
            )
        })?;
        if timestamp && kind != Kind::Timestamp {
            return Err(Error::new_spanned(
                &field.ty,
                format!("column '{ident}': #[row(timestamp)] needs an unsigned integer of seconds"),
            ));
        }
        columns.push(ColumnDef {
            name: ident.to_string().trim_start_matches("r#").to_string(),
            ident,
            kind,
            doc: doc_of(&field.attrs),
            key,
            narrow,
        });
    }
    if !columns.iter().any(|c| c.key) {
        return Err(Error::new_spanned(
            &input.ident,
            "#[derive(Row)] needs at least one #[row(key)] field",
        ));
    }
    if let Some(column) = position_column(&position)
        && !columns.iter().any(|c| c.name == column)
    {
        return Err(Error::new_spanned(
            &input.ident,
            format!("#[row(position = ..)] names '{column}', which is not a field"),
        ));
    }
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let column_tokens = columns.iter().map(|c| {
        let name = &c.name;
        let doc = &c.doc;
        let ty = kind_tokens(c.kind);
        quote! { ::chainflow::engine::dataflow::Column::new(#name, #ty, #doc) }
    });
    let keys = columns.iter().filter(|c| c.key).map(|c| &c.name);
    let values = columns.iter().map(|c| {
        let f = &c.ident;
        match c.kind {
            Kind::U64 | Kind::Timestamp if c.narrow => {
                quote! { ::chainflow::engine::dataflow::Value::U64(u64::from(self.#f)) }
            }
            Kind::U64 | Kind::Timestamp => {
                quote! { ::chainflow::engine::dataflow::Value::U64(self.#f) }
            }
            Kind::Wei => quote! { ::chainflow::engine::dataflow::Value::Wei(self.#f) },
            Kind::U256 => quote! { ::chainflow::engine::dataflow::Value::U256(self.#f) },
            Kind::Hash => quote! { ::chainflow::engine::dataflow::Value::Hash(self.#f) },
            Kind::Address => quote! { ::chainflow::engine::dataflow::Value::Address(self.#f) },
            Kind::Text => {
                quote! { ::chainflow::engine::dataflow::Value::Text(self.#f.clone()) }
            }
        }
    });
    Ok(quote! {
        impl #impl_generics ::chainflow::engine::dataflow::Row for #ident #ty_generics #where_clause {
            const COLUMNS: &'static [::chainflow::engine::dataflow::Column] = &[#(#column_tokens),*];
            const KEY: &'static [&'static str] = &[#(#keys),*];
            const POSITION: ::chainflow::engine::dataflow::Position = #position;
            fn values(&self) -> ::std::vec::Vec<::chainflow::engine::dataflow::Value> {
                ::std::vec![#(#values),*]
            }
        }
    })
}

fn kind_tokens(kind: Kind) -> Tokens {
    let variant = match kind {
        Kind::U64 => quote!(U64),
        Kind::Timestamp => quote!(Timestamp),
        Kind::Wei => quote!(Wei),
        Kind::U256 => quote!(U256),
        Kind::Hash => quote!(Hash),
        Kind::Address => quote!(Address),
        Kind::Text => quote!(Text),
    };
    quote! { ::chainflow::engine::dataflow::ColumnType::#variant }
}

/// The column kind of a field type (by its last path segment) and whether it is an integer
/// narrower than u64.
fn kind_of(ty: &Type, timestamp: bool) -> Option<(Kind, bool)> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?.ident.to_string();
    let integer = |narrow| {
        Some((
            if timestamp {
                Kind::Timestamp
            } else {
                Kind::U64
            },
            narrow,
        ))
    };
    match last.as_str() {
        "u64" => integer(false),
        "u8" | "u16" | "u32" => integer(true),
        "u128" | "Wei" => Some((Kind::Wei, false)),
        "U256" => Some((Kind::U256, false)),
        "B256" | "TxHash" | "BlockHash" => Some((Kind::Hash, false)),
        "Address" => Some((Kind::Address, false)),
        "String" => Some((Kind::Text, false)),
        _ => None,
    }
}

/// `(key, timestamp)` from a field's `#[row(..)]` attributes.
fn field_flags(field: &syn::Field) -> Result<(bool, bool), Error> {
    let (mut key, mut timestamp) = (false, false);
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("row")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("key") {
                key = true;
                Ok(())
            } else if meta.path.is_ident("timestamp") {
                timestamp = true;
                Ok(())
            } else {
                Err(meta.error("a field takes #[row(key)] and #[row(timestamp)]"))
            }
        })?;
    }
    Ok((key, timestamp))
}

/// The first line of a field's doc comment.
fn doc_of(attrs: &[syn::Attribute]) -> String {
    for attr in attrs {
        if let Meta::NameValue(nv) = &attr.meta
            && nv.path.is_ident("doc")
            && let Expr::Lit(lit) = &nv.value
            && let Lit::Str(s) = &lit.lit
        {
            let line = s.value();
            let line = line.trim().trim_end_matches('.');
            if !line.is_empty() {
                return line.to_string();
            }
        }
    }
    String::new()
}

/// The `Position` expression of the struct's `#[row(position = ..)]` (default: `whole`).
fn position(input: &DeriveInput) -> Result<Tokens, Error> {
    let mut found = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("row")) {
        attr.parse_nested_meta(|meta| {
            if !meta.path.is_ident("position") {
                return Err(meta.error("a struct takes #[row(position = ..)]"));
            }
            let value: Expr = meta.value()?.parse()?;
            found = Some(position_of(&value)?);
            Ok(())
        })?;
    }
    found.ok_or_else(|| {
        Error::new(
            Span::call_site(),
            "#[derive(Row)] needs #[row(position = block(col) | time_bucket(col, secs) | whole | log)]",
        )
    })
}

fn position_of(value: &Expr) -> Result<Tokens, Error> {
    let bad = || {
        Error::new_spanned(
            value,
            "position is block(column), time_bucket(column, seconds), whole or log",
        )
    };
    match value {
        Expr::Path(p) if p.path.is_ident("whole") => {
            Ok(quote! { ::chainflow::engine::dataflow::Position::Whole })
        }
        Expr::Path(p) if p.path.is_ident("log") => {
            Ok(quote! { ::chainflow::engine::dataflow::Position::Log })
        }
        Expr::Call(call) => {
            let Expr::Path(f) = &*call.func else {
                return Err(bad());
            };
            let args: Vec<&Expr> = call.args.iter().collect();
            let column = |e: &Expr| match e {
                Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()).ok_or_else(bad),
                _ => Err(bad()),
            };
            if f.path.is_ident("block") && args.len() == 1 {
                let c = column(args[0])?;
                Ok(quote! { ::chainflow::engine::dataflow::Position::Block(#c) })
            } else if f.path.is_ident("time_bucket") && args.len() == 2 {
                let c = column(args[0])?;
                let secs = args[1];
                Ok(quote! { ::chainflow::engine::dataflow::Position::TimeBucket(#c, #secs) })
            } else {
                Err(bad())
            }
        }
        _ => Err(bad()),
    }
}

/// The column a position expression names, to check it is a field.
fn position_column(position: &Tokens) -> Option<String> {
    let text = position.to_string();
    let start = text.find('"')? + 1;
    let end = start + text[start..].find('"')?;
    Some(text[start..end].to_string())
}
