//! Parsing and checking the `name = value` options of the attributes; each error is on the
//! user's token and says how to fix it.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, Meta, Token};

use crate::Errors;

pub(crate) fn parse_options(attr: TokenStream) -> syn::Result<Vec<(syn::Ident, Option<Expr>, Span)>> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse(attr)?;
    let mut out = Vec::new();
    for meta in metas {
        match meta {
            Meta::NameValue(nv) => {
                let ident = nv.path.get_ident().cloned().ok_or_else(|| syn::Error::new(nv.path.span(), "expected an option name"))?;
                out.push((ident, Some(nv.value.clone()), nv.span()));
            }
            Meta::Path(p) => {
                let ident = p.get_ident().cloned().ok_or_else(|| syn::Error::new(p.span(), "expected an option name"))?;
                out.push((ident, None, p.span()));
            }
            Meta::List(l) => return Err(syn::Error::new(l.span(), "expected `name = value`")),
        }
    }
    Ok(out)
}

pub(crate) fn unknown_option(errors: &mut Errors, ident: &syn::Ident, attr: &str, valid: &[&str]) {
    errors.push(
        ident.span(),
        format!(
            "unknown `#[etl::{attr}]` option `{ident}`; expected one of {}",
            valid.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
        ),
    );
}

pub(crate) fn need_value(errors: &mut Errors, ident: &syn::Ident, value: Option<Expr>, what: &str) -> Option<Expr> {
    if value.is_none() {
        errors.push(ident.span(), format!("`{ident}` needs a value: `{ident} = {what}`"));
    }
    value
}

pub(crate) fn lit_str(errors: &mut Errors, ident: &syn::Ident, value: &Expr) -> Option<syn::LitStr> {
    match value {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Some(s.clone()),
        other => {
            errors.push(other.span(), format!("`{ident}` takes a string literal, e.g. `{ident} = \"name\"`"));
            None
        }
    }
}

pub(crate) fn lit_int(errors: &mut Errors, ident: &syn::Ident, value: &Expr) -> Option<u32> {
    match value {
        Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) => match i.base10_parse::<u32>() {
            Ok(n) => Some(n),
            Err(e) => {
                errors.push_err(e);
                None
            }
        },
        other => {
            errors.push(other.span(), format!("`{ident}` takes a non-negative integer literal, e.g. `{ident} = 2`"));
            None
        }
    }
}

pub(crate) fn lit_bool(errors: &mut Errors, ident: &syn::Ident, value: &Expr) -> Option<bool> {
    match value {
        Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) => Some(b.value),
        other => {
            errors.push(other.span(), format!("`{ident}` takes `true` or `false`"));
            None
        }
    }
}

/// `"id"` or `["a", "b"]`.
pub(crate) fn lit_str_list(errors: &mut Errors, ident: &syn::Ident, value: &Expr) -> Option<Vec<syn::LitStr>> {
    match value {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Some(vec![s.clone()]),
        Expr::Array(arr) => {
            let mut out = Vec::new();
            for e in &arr.elems {
                out.push(lit_str(errors, ident, e)?);
            }
            Some(out)
        }
        other => {
            errors.push(other.span(), format!("`{ident}` takes a string or a list of strings, e.g. `{ident} = \"a\"` or `{ident} = [\"a\", \"b\"]`"));
            None
        }
    }
}

pub(crate) fn doc_string(attrs: &[syn::Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Some(s.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

pub(crate) const CONTRACT_MODES: &[(&str, &str)] =
    &[("evolve", "Evolve"), ("freeze", "Freeze"), ("discard_row", "DiscardRow"), ("discard_value", "DiscardValue")];

/// `schema_contract = "freeze"` (one mode for tables, columns and data types).
pub(crate) fn contract_tokens(errors: &mut Errors, ident: &syn::Ident, value: &Expr) -> Option<TokenStream2> {
    let s = lit_str(errors, ident, value)?;
    match CONTRACT_MODES.iter().find(|(name, _)| *name == s.value()) {
        Some((_, variant)) => {
            let v = format_ident!("{}", variant);
            Some(quote!(::etl::__private::SchemaContract::all(::etl::__private::ContractMode::#v)))
        }
        None => {
            errors.push(s.span(), "unknown contract mode; expected one of `evolve`, `freeze`, `discard_row`, `discard_value`");
            None
        }
    }
}

/// Every `.dedup_sort("...")` with a literal in an option's expression (`columns = [...]`,
/// `vec![...]`) must be `"asc"` or `"desc"`; the builder checks other values when the resource
/// runs.
pub(crate) fn check_dedup_sort(errors: &mut Errors, expr: &Expr) {
    let mut walk = |e: &Expr| check_dedup_sort(errors, e);
    match expr {
        Expr::MethodCall(call) => {
            if call.method == "dedup_sort" {
                if let Some(Expr::Lit(ExprLit { lit: Lit::Str(s), .. })) = call.args.first() {
                    if !matches!(s.value().as_str(), "asc" | "desc") {
                        errors.push(s.span(), format!("`dedup_sort` is `\"asc\"` or `\"desc\"`, not {:?}", s.value()));
                    }
                }
            }
            check_dedup_sort(errors, &call.receiver);
            call.args.iter().for_each(|a| check_dedup_sort(errors, a));
        }
        Expr::Array(a) => a.elems.iter().for_each(&mut walk),
        Expr::Call(c) => c.args.iter().for_each(&mut walk),
        Expr::Paren(p) => walk(&p.expr),
        Expr::Group(g) => walk(&g.expr),
        Expr::Reference(r) => walk(&r.expr),
        Expr::Macro(m) => {
            if let Ok(elems) = m.mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
                elems.iter().for_each(&mut walk);
            }
        }
        _ => {}
    }
}
